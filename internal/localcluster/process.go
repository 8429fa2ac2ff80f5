package localcluster

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is one child: its own process group (so a terminal's Ctrl-C
// reaches only the runner, which stops children in order), killed by the
// kernel if the runner dies (Pdeathsig), logged to a file.
type process struct {
	name     string
	cmd      *exec.Cmd
	log      *os.File
	done     chan struct{}
	err      error
	stopping bool
}

func startProcess(name, logDir string, env []string, bin string, args ...string) (*process, error) {
	logFile, err := os.OpenFile(filepath.Join(logDir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening log of %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s (%s): %w", name, bin, err)
	}
	p := &process{name: name, cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after grace.
func (p *process) stop(grace time.Duration) error {
	p.stopping = true
	if p.exited() {
		return nil
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Whatever the process left in its group goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return nil
}

// pidFile records the children of a run so the next run can clean up
// after a runner that was killed before it could stop them.
type pidFile string

func (f pidFile) add(name string, pid int, bin string) error {
	fh, err := os.OpenFile(string(f), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("recording pid of %s: %w", name, err)
	}
	_, werr := fmt.Fprintf(fh, "%d %s %s\n", pid, name, bin)
	return errors.Join(werr, fh.Close())
}

// liveRunner returns the pid of a runner recorded in the file that is still
// running the recorded binary, or 0.
func (f pidFile) liveRunner() int {
	b, err := os.ReadFile(string(f))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.SplitN(line, " ", 3)
		if len(fields) != 3 || fields[1] != runnerName {
			continue
		}
		pid, err := strconv.Atoi(fields[0])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && strings.TrimSuffix(exe, " (deleted)") == fields[2] {
			return pid
		}
	}
	return 0
}

// runnerName marks the runner's own line in the pid file.
const runnerName = "runner"

// killStale stops every recorded process that still runs the recorded
// binary (a reused pid running something else is left alone), then removes
// the file.
func (f pidFile) killStale(logf func(string, ...any)) error {
	fh, err := os.Open(string(f))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", f, err)
	}
	var stale []int
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		fields := strings.SplitN(sc.Text(), " ", 3)
		if len(fields) != 3 {
			continue
		}
		pid, err := strconv.Atoi(fields[0])
		if err != nil || pid <= 1 || fields[1] == runnerName {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil || strings.TrimSuffix(exe, " (deleted)") != fields[2] {
			continue
		}
		logf("stopping %s left over from a previous run (pid %d)", fields[1], pid)
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		_ = syscall.Kill(pid, syscall.SIGTERM)
		stale = append(stale, pid)
	}
	_ = fh.Close()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range stale {
		for time.Now().Before(deadline) && syscall.Kill(pid, 0) == nil {
			time.Sleep(100 * time.Millisecond)
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if err := os.Remove(string(f)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", f, err)
	}
	return nil
}
