package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cockroachdb/errors"
)

// Memory cgroups: in cgroup mode every engine runs in a child process of its
// own inside a fresh memory cgroup, so that its limit binds the process and
// the page cache it fills together (what a container sees), and so that
// memory.stat tells apart, per engine, the process's anonymous memory and
// the page cache its files occupy. Both cgroup v2 (the unified hierarchy,
// /sys/fs/cgroup/cgroup.controllers present) and v1 (the memory controller
// at /sys/fs/cgroup/memory) are supported; creating a cgroup needs root.

// ErrNoCgroup says that memory cgroups cannot be used here: the harness
// names what is missing and the matrix does not run (run without -cgroup).
var ErrNoCgroup = errors.New("memory cgroups are unavailable")

// Unlimited as Config.CgroupLimit runs each engine in its own cgroup with
// no memory limit: the page cache is unlimited, and memory.stat still
// reports what each engine used.
const Unlimited int64 = -1

// cgroupRoot is where the memory controller is mounted (a variable for
// tests).
var cgroupRoot = "/sys/fs/cgroup"

// cgroup is one memory cgroup made for one engine.
type cgroup struct {
	path string
	v2   bool
}

// cgroupVersion finds the memory controller: v2 if the unified hierarchy
// is mounted with the memory controller available, else v1.
func cgroupVersion() (base string, v2 bool, err error) {
	if b, err := os.ReadFile(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		if !strings.Contains(" "+strings.TrimSpace(string(b))+" ", " memory ") {
			return "", false, errors.Wrapf(ErrNoCgroup, "cgroup v2 at %s has no memory controller (cgroup.controllers: %q)",
				cgroupRoot, strings.TrimSpace(string(b)))
		}
		return cgroupRoot, true, nil
	}
	base = filepath.Join(cgroupRoot, "memory")
	if _, err := os.Stat(filepath.Join(base, "memory.limit_in_bytes")); err != nil {
		return "", false, errors.Wrapf(ErrNoCgroup, "neither cgroup v2 (%s/cgroup.controllers) nor the v1 memory controller (%s) is mounted",
			cgroupRoot, base)
	}
	return base, false, nil
}

// newCgroup creates a memory cgroup named name with the given limit
// (Unlimited: none).
func newCgroup(name string, limit int64) (*cgroup, error) {
	base, v2, err := cgroupVersion()
	if err != nil {
		return nil, err
	}
	if v2 {
		// Children of the root get the memory controller only if the root
		// delegates it; enabling it is idempotent.
		ctl := filepath.Join(base, "cgroup.subtree_control")
		if b, err := os.ReadFile(ctl); err == nil && !strings.Contains(string(b), "memory") {
			if err := os.WriteFile(ctl, []byte("+memory"), 0); err != nil {
				return nil, errors.Wrapf(ErrNoCgroup, "enable the memory controller in %s: %v", ctl, err)
			}
		}
	}
	c := &cgroup{path: filepath.Join(base, name), v2: v2}
	if err := os.Mkdir(c.path, 0o755); err != nil {
		return nil, errors.Wrapf(ErrNoCgroup, "create cgroup %s (root needed): %v", c.path, err)
	}
	if limit != Unlimited {
		file, val := "memory.limit_in_bytes", strconv.FormatInt(limit, 10)
		if v2 {
			file = "memory.max"
		}
		if err := os.WriteFile(filepath.Join(c.path, file), []byte(val), 0); err != nil {
			_ = c.remove()
			return nil, errors.Wrapf(ErrNoCgroup, "set %s/%s to %s: %v", c.path, file, val, err)
		}
		if v2 {
			// No swap: the limit must bind memory, not move it to swap.
			_ = os.WriteFile(filepath.Join(c.path, "memory.swap.max"), []byte("0"), 0)
		}
	}
	return c, nil
}

// join moves the calling process (every thread) into cgroup path.
func joinCgroup(path string) error {
	pid := []byte(strconv.Itoa(os.Getpid()))
	if err := os.WriteFile(filepath.Join(path, "cgroup.procs"), pid, 0); err != nil {
		return errors.Wrapf(err, "join cgroup %s", path)
	}
	return nil
}

// oomKills returns how many times the kernel's OOM killer acted in the
// cgroup (v2 memory.events oom_kill; v1 memory.oom_control oom_kill, or
// failcnt as a hint where the kernel is too old to count kills).
func (c *cgroup) oomKills() int64 {
	if c.v2 {
		return statValue(filepath.Join(c.path, "memory.events"), "oom_kill")
	}
	return statValue(filepath.Join(c.path, "memory.oom_control"), "oom_kill")
}

// remove deletes the cgroup (its processes have exited; charged page
// cache moves to the parent).
func (c *cgroup) remove() error {
	if err := os.Remove(c.path); err != nil {
		return errors.Wrapf(err, "remove cgroup %s", c.path)
	}
	return nil
}

// MemStats is what an engine's process and cgroup hold, sampled at the end
// of a load or a run.
type MemStats struct {
	// RSSBytes is the process's anonymous memory (heap, stacks, the
	// engine's own caches): cgroup memory.stat rss (v1) / anon (v2), or
	// RssAnon of /proc/self/status without a cgroup.
	RSSBytes int64 `json:"rss_bytes"`
	// PageCacheBytes is the page cache charged to the cgroup: its files'
	// pages, mapped or not (memory.stat cache (v1) / file (v2)); 0 without
	// a cgroup.
	PageCacheBytes int64 `json:"page_cache_bytes"`
	// MappedBytes is the part of the page cache mapped into the process
	// (mmap'd files: memory.stat mapped_file / file_mapped), which also
	// counts in the process's VmRSS.
	MappedBytes int64 `json:"mapped_bytes"`
	// PeakBytes is the cgroup's highest total charge so far (v1
	// memory.max_usage_in_bytes, v2 memory.peak where the kernel has it).
	PeakBytes int64 `json:"peak_bytes"`
	// ProcRSSBytes is the process's VmRSS (anonymous plus mapped file
	// pages).
	ProcRSSBytes int64 `json:"proc_rss_bytes"`
}

// sampleMem reads the memory figures of this process and of cgroup path
// ("" for none).
func sampleMem(path string, v2 bool) MemStats {
	var m MemStats
	status := filepath.Join("/proc", "self", "status")
	m.ProcRSSBytes = statValue(status, "VmRSS:") << 10
	if path == "" {
		m.RSSBytes = statValue(status, "RssAnon:") << 10
		return m
	}
	stat := filepath.Join(path, "memory.stat")
	if v2 {
		m.RSSBytes = statValue(stat, "anon")
		m.PageCacheBytes = statValue(stat, "file")
		m.MappedBytes = statValue(stat, "file_mapped")
		m.PeakBytes = fileValue(filepath.Join(path, "memory.peak"))
		return m
	}
	m.RSSBytes = statValue(stat, "rss")
	m.PageCacheBytes = statValue(stat, "cache")
	m.MappedBytes = statValue(stat, "mapped_file")
	m.PeakBytes = fileValue(filepath.Join(path, "memory.max_usage_in_bytes"))
	return m
}

// statValue returns the number after key in a "key value" file, or 0.
func statValue(file, key string) int64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == key {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// fileValue returns the number a file holds, or 0.
func fileValue(file string) int64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// cgroupName names the cgroup of one engine's child process.
func cgroupName(engine string, mode Mode, vs int) string {
	return fmt.Sprintf("rskv-bench-%d-%s-%s-%d", os.Getpid(), engine, mode, vs)
}
