module shipyard.local/supervisor

go 1.22
