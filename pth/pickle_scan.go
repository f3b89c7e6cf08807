package pth

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

type byteReader interface {
	io.Reader
	io.ByteReader
}

// byteStream is a reader that knows how many bytes it has left, so that a
// length field can be checked before anything is allocated for it.
type byteStream struct {
	r    byteReader
	left int64
}

func newByteStream(r byteReader, size int64) *byteStream {
	return &byteStream{r: r, left: size}
}

func (s *byteStream) ReadByte() (byte, error) {
	b, err := s.r.ReadByte()
	if err == nil {
		s.left--
	}
	return b, err
}

func (s *byteStream) Read(p []byte) (int, error) {
	if int64(len(p)) > s.left {
		p = p[:s.left]
		if len(p) == 0 {
			return 0, io.EOF
		}
	}
	n, err := s.r.Read(p)
	s.left -= int64(n)
	return n, err
}

// readFull reads exactly n bytes, after checking that the stream has them.
func (s *byteStream) readFull(n int64) ([]byte, error) {
	if n < 0 || n > s.left {
		return nil, io.ErrUnexpectedEOF
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(s, b); err != nil {
		return nil, unexpectedEOF(err)
	}
	return b, nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Argument kinds of pickle opcodes, as in Python's pickletools.
const (
	argNone    = iota
	argFixed   // fixed number of bytes
	argLen1    // 1-byte length, then that many bytes
	argLen4    // 4-byte little-endian length
	argLen8    // 8-byte little-endian length
	argLine    // text up to '\n'
	argTwoLine // two '\n'-terminated lines
	argFrame   // FRAME: 8-byte length of the frame, whose contents are ordinary opcodes
)

type opArg struct {
	kind int
	n    int // bytes, for argFixed
}

// pickleOps lists every opcode of pickle protocols 0 to 5.
var pickleOps = func() map[byte]opArg {
	m := map[byte]opArg{}
	for _, op := range []byte("(.0012NRabd}el]ost)uQ\x81\x85\x86\x87\x88\x89\x8f\x90\x91\x92\x93\x94\x97\x98") {
		m[op] = opArg{kind: argNone}
	}
	for op, n := range map[byte]int{'K': 1, 'h': 1, 'q': 1, 0x80: 1, 0x82: 1, 'M': 2, 0x83: 2,
		'J': 4, 'j': 4, 'r': 4, 0x84: 4, 'G': 8} {
		m[op] = opArg{kind: argFixed, n: n}
	}
	for _, op := range []byte("UC\x8c\x8a") {
		m[op] = opArg{kind: argLen1}
	}
	for _, op := range []byte("TBX\x8b") {
		m[op] = opArg{kind: argLen4}
	}
	for _, op := range []byte("\x8d\x8e\x96") {
		m[op] = opArg{kind: argLen8}
	}
	for _, op := range []byte("ILFSVPgp") {
		m[op] = opArg{kind: argLine}
	}
	for _, op := range []byte("ci") {
		m[op] = opArg{kind: argTwoLine}
	}
	m[0x95] = opArg{kind: argFrame}
	return m
}()

// orderedDictGlobal is the GLOBAL opcode's argument for
// collections.OrderedDict, which gopickle resolves itself, before asking
// findClass, to a class that refuses arguments. Python 2 pickled an
// OrderedDict as a call with its [key, value] pairs (a state_dict saved
// under Python 2 by PyTorch ≤ 1.4), so readPickle renames the global to
// orderedDictAlias, which findClass resolves to orderedDictClass. The alias
// has the same length, so that the length of an enclosing FRAME stays
// right.
const (
	orderedDictGlobal = "collections\nOrderedDict\n"
	orderedDictAlias  = "cyclepix.od\nOrderedDict\n"
)

// readPickle reads one pickle, up to and including its STOP opcode, and
// returns its bytes. It checks every opcode and length field on the way, so
// that the unpickler, which allocates whatever a length field says before
// reading, only ever sees lengths that the data can satisfy. It renames
// one global on the way (see orderedDictGlobal).
func readPickle(s *byteStream) ([]byte, error) {
	var out bytes.Buffer
	for {
		pos := out.Len()
		op, err := s.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("pickle: %w at byte %d", unexpectedEOF(err), pos)
		}
		out.WriteByte(op)
		arg, ok := pickleOps[op]
		if !ok {
			return nil, fmt.Errorf("pickle: unknown opcode 0x%02x at byte %d", op, pos)
		}
		var n int64
		switch arg.kind {
		case argFixed:
			n = int64(arg.n)
		case argLen1, argLen4, argLen8:
			size := 1
			switch arg.kind {
			case argLen4:
				size = 4
			case argLen8:
				size = 8
			}
			b, err := s.readFull(int64(size))
			if err != nil {
				return nil, fmt.Errorf("pickle: %w at byte %d", err, pos)
			}
			out.Write(b)
			switch size {
			case 1:
				n = int64(b[0])
			case 4:
				// BINSTRING and LONG4 lengths are signed; a negative one is
				// as invalid as one beyond the data.
				n = int64(int32(binary.LittleEndian.Uint32(b)))
				if op == 'B' || op == 'X' {
					n = int64(binary.LittleEndian.Uint32(b))
				}
			case 8:
				u := binary.LittleEndian.Uint64(b)
				if u > uint64(s.left) {
					return nil, fmt.Errorf("pickle: length %d at byte %d exceeds the data", u, pos)
				}
				n = int64(u)
			}
			if n < 0 || n > s.left {
				return nil, fmt.Errorf("pickle: length %d at byte %d exceeds the data", n, pos)
			}
		case argFrame:
			b, err := s.readFull(8)
			if err != nil {
				return nil, fmt.Errorf("pickle: %w at byte %d", err, pos)
			}
			if binary.LittleEndian.Uint64(b) > uint64(s.left) {
				return nil, fmt.Errorf("pickle: frame at byte %d exceeds the data", pos)
			}
			out.Write(b)
		case argLine, argTwoLine:
			lines := 1
			if arg.kind == argTwoLine {
				lines = 2
			}
			for range lines {
				for {
					c, err := s.ReadByte()
					if err != nil {
						return nil, fmt.Errorf("pickle: %w in line argument at byte %d", unexpectedEOF(err), pos)
					}
					out.WriteByte(c)
					if c == '\n' {
						break
					}
				}
			}
		}
		if op == 'c' && bytes.Equal(out.Bytes()[pos+1:], []byte(orderedDictGlobal)) {
			copy(out.Bytes()[pos+1:], orderedDictAlias)
		}
		if n > 0 {
			b, err := s.readFull(n)
			if err != nil {
				return nil, fmt.Errorf("pickle: %w at byte %d", err, pos)
			}
			out.Write(b)
		}
		if op == '.' {
			return out.Bytes(), nil
		}
	}
}
