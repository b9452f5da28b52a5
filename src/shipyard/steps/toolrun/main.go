// toolrun: a release's commands for one tool, run in that tool's single container (Go's
// standard library only, static, so it needs nothing in the image: distroless tool images
// have no shell).
//
// Usage: toolrun PLAN_JSON
//
// The plan is {"chains": [[command, ...], ...], "parallel": N}, each command {"name": "...",
// "argv": [...], "stdout": "/path" (optional: where its standard output goes)}. Chains start in
// the plan's order, at most N running at a time (0: all at once); a chain keeps its slot until
// its last command ends, so a plan puts its longest chain first. The commands of a chain run in
// order, and a failure skips the rest of its chain (they depend on it: attestations appended
// to one tag). One JSON object is printed on stdout: {"results": [{"name", "exit", "seconds",
// "cpu", "stderr"}]} in the plan's order (cpu: the command's user + system CPU seconds), exit
// -1 for a command that did not run. toolrun exits 0 when it ran the plan, whatever the
// commands did (the caller decides from the results), 2 when the plan cannot be read.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"
)

type command struct {
	Name   string   `json:"name"`
	Argv   []string `json:"argv"`
	Stdout string   `json:"stdout"`
}

type plan struct {
	Chains   [][]command `json:"chains"`
	Parallel int         `json:"parallel"`
}

type result struct {
	Name    string  `json:"name"`
	Exit    int     `json:"exit"`
	Seconds float64 `json:"seconds"`
	CPU     float64 `json:"cpu"`
	Stderr  string  `json:"stderr"`
}

const keepStderr = 4096 // the tail a caller needs to say why a command failed

func run(c command) result {
	started := time.Now()
	out := result{Name: c.Name, Exit: 0}
	if len(c.Argv) == 0 {
		out.Exit, out.Stderr = 127, "empty command"
		return out
	}
	cmd := exec.Command(c.Argv[0], c.Argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if c.Stdout != "" {
		file, err := os.Create(c.Stdout)
		if err != nil {
			out.Exit, out.Stderr = 126, err.Error()
			return out
		}
		defer file.Close()
		cmd.Stdout = file
	}
	err := cmd.Run()
	out.Seconds = time.Since(started).Seconds()
	if cmd.ProcessState != nil {
		out.CPU = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		out.Exit = exit.ExitCode()
	case err != nil:
		out.Exit = 127
		stderr.WriteString(err.Error())
	}
	text := stderr.String()
	if len(text) > keepStderr {
		text = text[len(text)-keepStderr:]
	}
	out.Stderr = text
	// The tool's own messages stay in the engine's progress log, under the command's name.
	fmt.Fprintf(os.Stderr, "toolrun: %s: exit %d in %.2fs (%.2fs CPU)\n", c.Name, out.Exit, out.Seconds, out.CPU)
	return out
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: toolrun PLAN_JSON")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	var p plan
	if err == nil {
		err = json.Unmarshal(data, &p)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "toolrun: cannot read the plan:", err)
		os.Exit(2)
	}
	results := make([][]result, len(p.Chains))
	slots := p.Parallel
	if slots <= 0 || slots > len(p.Chains) {
		slots = len(p.Chains)
	}
	free := make(chan struct{}, max(slots, 1)) // a slot per running chain
	var wg sync.WaitGroup
	for i, chain := range p.Chains {
		results[i] = make([]result, len(chain))
		free <- struct{}{} // chains start in the plan's order as slots free up
		wg.Add(1)
		go func(i int, chain []command) {
			defer func() { <-free; wg.Done() }()
			failed := false
			for j, c := range chain {
				if failed {
					results[i][j] = result{Name: c.Name, Exit: -1, Stderr: "not run: an earlier command of its chain failed"}
					continue
				}
				results[i][j] = run(c)
				failed = results[i][j].Exit != 0
			}
		}(i, chain)
	}
	wg.Wait()
	flat := []result{}
	for _, chain := range results {
		flat = append(flat, chain...)
	}
	if err := json.NewEncoder(os.Stdout).Encode(map[string]any{"results": flat}); err != nil {
		os.Exit(2)
	}
}
