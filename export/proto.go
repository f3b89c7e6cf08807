package export

import (
	"encoding/binary"
	"math"
)

// pb is a minimal protocol-buffers encoder: enough of the wire format
// (varints, fixed32 floats, length-delimited strings and messages) to write
// ONNX's proto2 messages. Repeated scalars are written unpacked, the proto2
// default every parser accepts.
type pb struct{ b []byte }

const (
	wireVarint  = 0
	wireFixed32 = 5
	wireBytes   = 2
)

func (p *pb) tag(field, wire int) { p.varint(uint64(field)<<3 | uint64(wire)) }

func (p *pb) varint(v uint64) { p.b = binary.AppendUvarint(p.b, v) }

// int writes an int32/int64/enum field (negative values take ten bytes,
// as protobuf encodes them).
func (p *pb) int(field int, v int64) {
	p.tag(field, wireVarint)
	p.varint(uint64(v))
}

func (p *pb) ints(field int, vs []int64) {
	for _, v := range vs {
		p.int(field, v)
	}
}

func (p *pb) float(field int, v float32) {
	p.tag(field, wireFixed32)
	p.b = binary.LittleEndian.AppendUint32(p.b, math.Float32bits(v))
}

func (p *pb) bytes(field int, b []byte) {
	p.tag(field, wireBytes)
	p.varint(uint64(len(b)))
	p.b = append(p.b, b...)
}

func (p *pb) str(field int, s string) {
	p.tag(field, wireBytes)
	p.varint(uint64(len(s)))
	p.b = append(p.b, s...)
}

func (p *pb) msg(field int, m *pb) { p.bytes(field, m.b) }
