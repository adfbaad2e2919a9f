package spool

import (
	"os"
	"sync"
	"sync/atomic"
)

// Group commit.
//
// A Put that made each entry durable alone paid four fsync(2): the message, the folder
// after its rename, the envelope, the folder again; concurrent Puts (a batch queueing from
// several workers) each paid them in full. Now a Put writes both files to temporary names
// without syncing them, and joins the queue of its folder. If no commit is running, it
// becomes the leader: it takes every entry queued so far and commits them together
// (commitGroup), then wakes their Puts. Entries queued while it commits wait for the next
// leader, one of themselves. There is no goroutine of its own: a lone Put leads its own
// group of one, and pays what it always did.
//
// What makes a group as safe as an entry alone is the order of the steps, the same for
// every entry as before, only shared:
//
//  1. every temporary file is synced: the bytes of each message and envelope are on disk
//     before any of their names is. The leader syncs them one after the other: a disk
//     serves concurrent fsyncs one at a time all the same, and once the group's writeback
//     is under way the later ones have less left to do;
//  2. the messages are renamed into place, and the folder is synced: a message file
//     without its envelope is an incomplete write, ignored by readers and removed by List
//     after an hour (no Put takes that long: the entry's Put holds the lock on the message
//     file until it returns, and List leaves a locked file alone);
//  3. the envelopes are renamed into place, and the folder is synced again. Only now is
//     any entry of the group visible; and since step 2 made the messages' names durable
//     first, no crash can leave an envelope whose message is missing (which List would
//     report as a bad entry for the user to delete), whatever order the file system
//     writes its metadata in.
//
// Put returns only after step 3 succeeded for its entry, exactly as before. An error in
// one entry (its fsync or rename) fails that Put alone: its files are removed and the rest
// of the group goes on. An error syncing the folder fails every entry of the group that
// was still going, since none can be known durable: their files are removed, envelopes
// first. While the leader works, every message file is still locked by its Put, so a
// concurrent flush skips an entry that might yet be removed.

// folder is a Spool's group commit: the Puts of one Spool share it, so a caller that queues
// from several goroutines (a batch's workers) opens one Spool for all of them.
type folder struct {
	// made says that ensureDir created the folder or found it: later calls only check
	// it (one lstat), and make it again should it have gone.
	made atomic.Bool

	mu         sync.Mutex
	cond       sync.Cond // signalled when a group is done; L is &mu
	queue      []*putEntry
	committing bool

	// hook, when set (by tests, before any Put), is called before every fsync, rename
	// and folder sync of a commit with the operation ("fsync", "rename", "syncdir") and
	// the path (for a rename, the temporary file's); an error stands for the operation's.
	hook func(op, path string) error
}

func newFolder() *folder {
	f := &folder{}
	f.cond.L = &f.mu
	return f
}

// putEntry is a Put on its way into its folder: both files written to temporary names and
// flushed to the kernel, not yet synced.
type putEntry struct {
	dir              string
	msg, env         *os.File // the temporary files; msg holds the entry's lock
	msgPath, envPath string   // where they go
	msgIn, envIn     bool     // renamed into place

	err  error // the entry's outcome, set by the leader
	done bool  // guarded by folder.mu
}

// commit makes p durable and visible with whatever other entries are queued, and returns
// p's outcome. On error p's files are gone.
func (f *folder) commit(p *putEntry) error {
	f.mu.Lock()
	f.queue = append(f.queue, p)
	for f.committing && !p.done {
		f.cond.Wait()
	}
	if p.done { // a leader committed it
		f.mu.Unlock()
		return p.err
	}
	f.committing = true
	group := f.queue
	f.queue = nil
	f.mu.Unlock()

	f.commitGroup(group)

	f.mu.Lock()
	for _, q := range group {
		q.done = true // q.err was set before, and f.mu orders it before q's read
	}
	f.committing = false
	f.cond.Broadcast() // wakes the group, and the entries queued since: one of them leads next
	f.mu.Unlock()
	return p.err
}

// commitGroup runs the steps described above on a group of entries of the same folder.
func (f *folder) commitGroup(group []*putEntry) {
	live := group[:0:0]
	keep := func(ok func(p *putEntry) error) {
		live = live[:0]
		for _, p := range group {
			if p.err != nil {
				continue
			}
			if err := ok(p); err != nil {
				p.fail(err)
				continue
			}
			live = append(live, p)
		}
	}
	// 1. The bytes. Writeback is started for every file of the group before the first
	// fsync waits, so that the kernel writes them together rather than one per fsync, and
	// the first fsync's journal commit covers the blocks allocated for all of them. A hint
	// (Linux only): the fsyncs are what make the bytes durable.
	for _, p := range group {
		startWriteback(p.msg)
		startWriteback(p.env)
	}
	keep(func(p *putEntry) error {
		if err := f.sync(p.msg); err != nil {
			return err
		}
		return f.sync(p.env)
	})
	// 2. The messages' names.
	keep(func(p *putEntry) error {
		if err := f.rename(p.msg.Name(), p.msgPath); err != nil {
			return err
		}
		p.msgIn = true
		return nil
	})
	if len(live) == 0 {
		return
	}
	dir := group[0].dir
	if err := f.syncDir(dir); err != nil {
		for _, p := range live {
			p.fail(err)
		}
		return
	}
	// 3. The envelopes' names: the entries appear.
	keep(func(p *putEntry) error {
		if err := f.rename(p.env.Name(), p.envPath); err != nil {
			return err
		}
		p.envIn = true
		return nil
	})
	if len(live) == 0 {
		return
	}
	if err := f.syncDir(dir); err != nil {
		for _, p := range live {
			p.fail(err)
		}
		syncDir(dir) // the removals, if the folder can still be synced at all
	}
}

func (f *folder) sync(file *os.File) error {
	if f.hook != nil {
		if err := f.hook("fsync", file.Name()); err != nil {
			return err
		}
	}
	return file.Sync()
}

func (f *folder) rename(oldname, newname string) error {
	if f.hook != nil {
		if err := f.hook("rename", oldname); err != nil {
			return err
		}
	}
	return rename(oldname, newname)
}

func (f *folder) syncDir(dir string) error {
	if f.hook != nil {
		if err := f.hook("syncdir", dir); err != nil {
			return err
		}
	}
	return syncDir(dir)
}

// fail records err as p's outcome and removes p's files.
func (p *putEntry) fail(err error) {
	p.err = err
	p.discard()
}

// discard removes whatever p has put in the folder, the envelope first (as remove does),
// so that no reader sees an entry without its message.
func (p *putEntry) discard() {
	if p.env != nil {
		if p.envIn {
			os.Remove(p.envPath)
		} else {
			os.Remove(p.env.Name())
		}
	}
	if p.msg != nil {
		if p.msgIn {
			os.Remove(p.msgPath)
		} else {
			os.Remove(p.msg.Name())
		}
	}
}

// close closes p's temporary files, dropping the message's lock.
func (p *putEntry) close() {
	if p.env != nil {
		p.env.Close()
	}
	if p.msg != nil {
		p.msg.Close()
	}
}
