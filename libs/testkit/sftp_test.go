package testkit

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

func sftpClient(t *testing.T, s *SFTPServer, password string) (*sftp.Client, error) {
	t.Helper()
	conn, err := ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{
		User:            "ferry",
		Auth:            []ssh.AuthMethod{ssh.Password(password)},
		HostKeyCallback: ssh.FixedHostKey(s.HostKey),
		Timeout:         5 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	c, err := sftp.NewClient(conn)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	t.Cleanup(func() {
		_ = c.Close()
		_ = conn.Close()
	})
	return c, nil
}

func TestSFTPServerConfinesToRoot(t *testing.T) {
	s := StartSFTP(t, SFTPServerOptions{Password: "pw"})
	c, err := sftpClient(t, s, "pw")
	require.NoError(t, err)

	wd, err := c.Getwd()
	require.NoError(t, err)
	require.Equal(t, "/", wd)

	f, err := c.Create("/a.txt")
	require.NoError(t, err)
	_, err = f.Write([]byte("hi"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	got, err := os.ReadFile(filepath.Join(s.Root, "a.txt"))
	require.NoError(t, err)
	require.Equal(t, "hi", string(got))

	// ".." stops at Root: this is Root/etc/hostname, which does not exist.
	_, err = c.Stat("/../../../../etc/hostname")
	require.ErrorIs(t, err, os.ErrNotExist)
	// A symlink out of Root does not lead out.
	require.NoError(t, os.Symlink("/etc", filepath.Join(s.Root, "etc")))
	_, err = c.Stat("/etc/hostname")
	require.Error(t, err)

	require.NoError(t, c.Mkdir("/d"))
	require.NoError(t, c.Rename("/a.txt", "/d/b.txt"))
	fis, err := c.ReadDir("/d")
	require.NoError(t, err)
	require.Len(t, fis, 1)
	require.Equal(t, "b.txt", fis[0].Name())
	r, err := c.Open("/d/b.txt")
	require.NoError(t, err)
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Equal(t, "hi", string(b))
	require.NoError(t, r.Close())
}

func TestSFTPServerRenameSemantics(t *testing.T) {
	for _, noPosix := range []bool{false, true} {
		s := StartSFTP(t, SFTPServerOptions{Password: "pw", NoPosixRename: noPosix})
		c, err := sftpClient(t, s, "pw")
		require.NoError(t, err)
		_, has := c.HasExtension("posix-rename@openssh.com")
		require.Equal(t, !noPosix, has)
		_, has = c.HasExtension("statvfs@openssh.com")
		require.True(t, has, "other extensions stay")

		require.NoError(t, os.WriteFile(filepath.Join(s.Root, "a"), []byte("a"), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(s.Root, "b"), []byte("b"), 0o644))
		require.Error(t, c.Rename("/a", "/b"), "a plain rename does not replace")
		err = c.PosixRename("/a", "/b")
		if noPosix {
			require.Error(t, err)
			continue
		}
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(s.Root, "b"))
		require.NoError(t, err)
		require.Equal(t, "a", string(got))
	}
}

func TestSFTPServerReadOnlyDir(t *testing.T) {
	s := StartSFTP(t, SFTPServerOptions{Password: "pw"})
	require.NoError(t, os.Mkdir(filepath.Join(s.Root, "ro"), 0o555))
	c, err := sftpClient(t, s, "pw")
	require.NoError(t, err)
	_, err = c.Create("/ro/x")
	require.ErrorIs(t, err, os.ErrPermission)
	require.ErrorIs(t, c.Mkdir("/ro/d"), os.ErrPermission)
}

func TestSFTPServerAuth(t *testing.T) {
	s := StartSFTP(t, SFTPServerOptions{Password: "pw"})
	_, err := sftpClient(t, s, "wrong")
	require.ErrorContains(t, err, "unable to authenticate")
}

func TestSFTPServerCutAfter(t *testing.T) {
	s := StartSFTP(t, SFTPServerOptions{Password: "pw", CutAfter: 100_000})
	c, err := sftpClient(t, s, "pw")
	require.NoError(t, err)
	f, err := c.Create("/big")
	require.NoError(t, err)
	_, err = f.Write(make([]byte, 1<<20))
	require.Error(t, err)

	// Once only: the next connection writes freely.
	c, err = sftpClient(t, s, "pw")
	require.NoError(t, err)
	f, err = c.Create("/big2")
	require.NoError(t, err)
	_, err = f.Write(make([]byte, 1<<20))
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func TestSFTPServerStopRestart(t *testing.T) {
	before := runtime.NumGoroutine()
	s := StartSFTP(t, SFTPServerOptions{Password: "pw"})
	port := s.Port

	// Dial, Stop and Restart at the same time: no races, no hangs.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if conn, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
					_, _, _, _ = ssh.NewClientConn(conn, s.Addr, &ssh.ClientConfig{
						User: "ferry", Auth: []ssh.AuthMethod{ssh.Password("pw")},
						HostKeyCallback: ssh.FixedHostKey(s.HostKey), Timeout: time.Second,
					})
					_ = conn.Close()
				}
			}
		}()
	}
	for range 10 {
		s.Stop()
		s.Stop()
		s.Restart()
		s.Restart()
	}
	close(stop)
	wg.Wait()
	require.Equal(t, port, s.Port)

	s.Stop()
	_, err := net.DialTimeout("tcp", s.Addr, time.Second)
	require.Error(t, err, "down after Stop")
	s.Restart()
	_, err = sftpClient(t, s, "pw")
	require.NoError(t, err, "up after Restart")
	s.Stop()

	// Everything the server started has ended (the client side of the last
	// connection may still be winding down).
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= before+10 }, 5*time.Second, 20*time.Millisecond)
}
