package replication

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// storeDir finds the directory under dir that holds an rskv store (its
// STORE manifest): dir itself for a plain node; somewhere inside it for a
// replicated one, whose layout this suite does not assume.
func storeDir(t *testing.T, dir string) string {
	t.Helper()
	var found []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "STORE" {
			found = append(found, filepath.Dir(p))
		}
		return nil
	}))
	require.Len(t, found, 1, "stores under %s", dir)
	return found[0]
}

// nodeState returns what the stopped node n's own store holds for keys: it
// copies the node's store directory, serves the copy as a plain node and
// reads the keys over RESP. This reads n's state, not the leader's (a GET
// on a follower is forwarded), and leaves n's directory untouched.
func nodeState(t *testing.T, n *node, keys []string) map[string]string {
	t.Helper()
	require.False(t, n.running(), "%s must be stopped", n.id)
	base := t.TempDir()
	cp := filepath.Join(base, "copy")
	out, err := exec.Command("cp", "-a", storeDir(t, n.dir), cp).CombinedOutput()
	require.NoError(t, err, "copy %s's store: %s", n.id, out)
	plain := newNodeAt(t, base, n.id+"-copy", cp, false)
	plain.start()
	defer plain.stop(30 * time.Second)
	rc := plain.client(opTimeout)
	defer rc.Close()
	got := map[string]string{}
	for i := 0; i < len(keys); i += 500 {
		batch := keys[i:min(i+500, len(keys))]
		vals, err := rc.MGet(context.Background(), batch...).Result()
		require.NoError(t, err)
		for j, v := range vals {
			if s, ok := v.(string); ok {
				got[batch[j]] = s
			}
		}
	}
	return got
}

// assertAckedOn checks that the stopped node n holds every acknowledged
// unique write.
func assertAckedOn(t *testing.T, n *node, w *workload) {
	t.Helper()
	keys := w.ackedKeys()
	got := nodeState(t, n, keys)
	missing := 0
	for _, k := range keys {
		w.mu.Lock()
		want := w.acked[k]
		w.mu.Unlock()
		if got[k] != want {
			if missing < 10 {
				t.Errorf("%s: acknowledged SET %s %s: holds %q", n.id, k, want, got[k])
			}
			missing++
		}
	}
	assert.Zero(t, missing, "%s: acknowledged writes missing or wrong, of %d", n.id, len(keys))
	t.Logf("%s holds all %d acknowledged unique writes: %v", n.id, len(keys), missing == 0)
}
