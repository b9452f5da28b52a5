module shipyard.local/toolrun

go 1.22
