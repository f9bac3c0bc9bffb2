package udp

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"strconv"
	"syscall"
)

// dropCounter reads the kernel's count of datagrams dropped on one socket
// (a full receive buffer, mostly) from the socket's row in /proc/net/udp or
// /proc/net/udp6, found by the socket's inode. Reading it on each gather
// costs nothing on the receive path, unlike SO_RXQ_OVFL, which would add
// control data to every read.
type dropCounter struct {
	inode uint64 // 0: unknown
}

func newDropCounter(conn *net.UDPConn) dropCounter {
	raw, err := conn.SyscallConn()
	if err != nil {
		return dropCounter{}
	}
	var st syscall.Stat_t
	var statErr error
	if err := raw.Control(func(fd uintptr) { statErr = syscall.Fstat(int(fd), &st) }); err != nil || statErr != nil {
		return dropCounter{}
	}
	return dropCounter{inode: st.Ino}
}

func (d dropCounter) dropped() (uint64, bool) {
	if d.inode == 0 {
		return 0, false
	}
	for _, table := range []string{"/proc/self/net/udp", "/proc/self/net/udp6"} {
		if drops, found := socketDrops(table, d.inode); found {
			return drops, true
		}
	}
	return 0, false
}

// socketDrops finds the row of the socket with the inode in a /proc/net/udp
// table and returns its last column, drops.
func socketDrops(table string, inode uint64) (uint64, bool) {
	f, err := os.Open(table)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	want := strconv.AppendUint(nil, inode, 10)
	scanner := bufio.NewScanner(f)
	scanner.Scan() // the header
	for scanner.Scan() {
		// sl local rem st tx:rx tr:tm retrnsmt uid timeout inode ref pointer drops
		fields := bytes.Fields(scanner.Bytes())
		if len(fields) < 13 || !bytes.Equal(fields[9], want) {
			continue
		}
		drops, err := strconv.ParseUint(string(fields[len(fields)-1]), 10, 64)
		return drops, err == nil
	}
	return 0, false
}
