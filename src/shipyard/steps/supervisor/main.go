// The smoke test's supervisor: it runs inside the released image's container, starts the image's
// process (entrypoint + command) as its child, and runs the Compose healthcheck the way Docker
// does (moby daemon/health.go): the first check one interval after the start (start_interval
// inside start_period while not yet healthy), exit code 0 passes, failures count only after
// start_period, `retries` consecutive failures are unhealthy. Each check and the verdict are
// printed on stdout as JSON lines; the app's output is kept for the last log lines.
//
// Usage: supervisor SPEC_JSON -- PROGRAM [ARGS...]
//
// In serve mode (a dependency), it keeps the app running and listens on ready_port once the app
// is healthy, so the engine starts the dependants only then.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type spec struct {
	Test          []string `json:"test"`
	Interval      float64  `json:"interval"`
	Timeout       float64  `json:"timeout"`
	Retries       int      `json:"retries"` // 0: until the deadline
	StartPeriod   float64  `json:"start_period"`
	StartInterval float64  `json:"start_interval"`
	Grace         float64  `json:"grace"`
	Deadline      float64  `json:"deadline"`
	LogLines      int      `json:"log_lines"`
	Serve         bool     `json:"serve"`
	ReadyPort     int      `json:"ready_port"`
}

const maxOutput = 4096

var out = json.NewEncoder(os.Stdout)
var outMu sync.Mutex

func emit(v map[string]any) {
	outMu.Lock()
	defer outMu.Unlock()
	_ = out.Encode(v)
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// ring keeps the app's last lines of output.
type ring struct {
	mu    sync.Mutex
	lines []string
	max   int
	echo  io.Writer
}

func (r *ring) consume(reader io.Reader) {
	scanner := bufio.NewScanner(reader)
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	for scanner.Scan() {
		line := scanner.Text()
		r.mu.Lock()
		r.lines = append(r.lines, line)
		if len(r.lines) > r.max {
			r.lines = r.lines[len(r.lines)-r.max:]
		}
		r.mu.Unlock()
		if r.echo != nil {
			fmt.Fprintln(r.echo, line)
		}
	}
}

func (r *ring) last() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string{}, r.lines...)
}

// check runs the health check once: its exit code (-1: timed out or could not start) and output.
func check(s spec) (int, string) {
	timeout := seconds(s.Timeout)
	kind, args := s.Test[0], s.Test[1:]
	if kind == "HTTP" {
		client := http.Client{Timeout: timeout}
		resp, err := client.Get("http://localhost:" + args[0] + args[1])
		if err != nil {
			return 1, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		text := fmt.Sprintf("HTTP %d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return 0, text
		}
		return 1, text
	}
	var cmd *exec.Cmd
	if kind == "CMD-SHELL" {
		cmd = exec.Command("/bin/sh", "-c", args[0])
	} else {
		cmd = exec.Command(args[0], args[1:]...)
	}
	var buf limited
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return -1, err.Error()
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			return 0, buf.String()
		}
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), buf.String()
		}
		return -1, err.Error()
	case <-time.After(timeout):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return -1, fmt.Sprintf("Health check exceeded timeout (%s)", timeout)
	}
}

type limited struct {
	mu  sync.Mutex
	buf []byte
}

func (l *limited) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := maxOutput - len(l.buf); room > 0 {
		if len(p) > room {
			l.buf = append(l.buf, p[:room]...)
		} else {
			l.buf = append(l.buf, p...)
		}
	}
	return len(p), nil
}

func (l *limited) String() string { l.mu.Lock(); defer l.mu.Unlock(); return string(l.buf) }

func main() {
	if len(os.Args) < 4 || os.Args[2] != "--" {
		fmt.Fprintln(os.Stderr, "usage: supervisor SPEC_JSON -- PROGRAM [ARGS...]")
		os.Exit(2)
	}
	var s spec
	if err := json.Unmarshal([]byte(os.Args[1]), &s); err != nil || len(s.Test) == 0 {
		fmt.Fprintln(os.Stderr, "supervisor: bad spec:", err)
		os.Exit(2)
	}
	if s.LogLines <= 0 {
		s.LogLines = 20
	}
	logs := &ring{max: s.LogLines}
	if s.Serve {
		logs.echo = os.Stderr
	}
	argv := os.Args[3:]
	app := exec.Command(argv[0], argv[1:]...)
	app.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	reader, writer := io.Pipe()
	app.Stdout, app.Stderr = writer, writer
	go logs.consume(reader)
	started := time.Now()
	since := func() float64 { return time.Since(started).Seconds() }
	end := func(status string, code int, extra map[string]any) {
		if app.Process != nil {
			_ = syscall.Kill(-app.Process.Pid, syscall.SIGTERM)
		}
		time.Sleep(200 * time.Millisecond)
		event := map[string]any{"event": "end", "status": status, "t": since(), "logs": logs.last(), "deadline": s.Deadline}
		for k, v := range extra {
			event[k] = v
		}
		emit(event)
		os.Exit(code)
	}
	if err := app.Start(); err != nil {
		fmt.Fprintf(writer, "cannot start %s: %v\n", strings.Join(argv, " "), err)
		time.Sleep(100 * time.Millisecond)
		end("exited", 1, map[string]any{"code": 127})
	}
	emit(map[string]any{"event": "start", "pid": app.Process.Pid, "argv": argv})
	exited := make(chan int, 1)
	go func() {
		err := app.Wait()
		writer.Close()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			code = -1
		}
		exited <- code
	}()
	deadline := time.After(seconds(s.Deadline))
	ready := func() {
		if !s.Serve {
			end("healthy", 0, nil)
		}
		listener, err := net.Listen("tcp", ":"+strconv.Itoa(s.ReadyPort))
		if err != nil {
			fmt.Fprintln(os.Stderr, "supervisor: cannot listen on the ready port:", err)
		} else {
			go func() {
				for {
					conn, err := listener.Accept()
					if err != nil {
						return
					}
					conn.Close()
				}
			}()
		}
		code := <-exited
		end("exited", 1, map[string]any{"code": code})
	}
	if s.Test[0] == "NONE" {
		select {
		case code := <-exited:
			end("exited", 1, map[string]any{"code": code})
		case <-time.After(seconds(s.Grace)):
			ready()
		}
	}
	healthy, failing := false, 0
	interval := func() time.Duration {
		if !healthy && since() < s.StartPeriod {
			return seconds(s.StartInterval)
		}
		return seconds(s.Interval)
	}
	for {
		select {
		case code := <-exited:
			end("exited", 1, map[string]any{"code": code})
		case <-deadline:
			end("timeout", 1, nil)
		case <-time.After(interval()):
		}
		start := since()
		result := make(chan [2]any, 1)
		go func() { code, output := check(s); result <- [2]any{code, output} }()
		var code int
		var output string
		select {
		case r := <-result:
			code, output = r[0].(int), r[1].(string)
		case <-deadline:
			end("timeout", 1, nil)
		}
		emit(map[string]any{"event": "check", "start": start, "end": since(), "exit": code, "output": output})
		if code == 0 {
			healthy = true
			ready()
			continue
		}
		if !healthy && start < s.StartPeriod {
			continue
		}
		failing++
		if s.Retries > 0 && failing >= s.Retries {
			end("unhealthy", 1, nil)
		}
	}
}
