package ship

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// A spool record is a 16-byte header and a payload (an encoded Alert):
//
//	uint32 payload length, little endian
//	uint32 CRC-32C of the next 8 bytes and the payload
//	uint64 sequence number
//	payload
//
// The CRC covers the sequence number, so a record torn by a crash — a
// short header, a short payload, or bytes never written — is detected.
const (
	recordHeaderBytes = 16
	// MaxRecordBytes is the largest payload the spool takes; the collector
	// refuses larger alerts anyway.
	MaxRecordBytes = 64 << 10
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

var (
	errShortRecord = errors.New("record cut short")
	errBadRecord   = errors.New("record corrupt")
)

type record struct {
	seq     uint64
	payload []byte
}

func appendRecord(dst []byte, seq uint64, payload []byte) []byte {
	var h [recordHeaderBytes]byte
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint64(h[8:16], seq)
	crc := crc32.Update(crc32.Checksum(h[8:16], crcTable), crcTable, payload)
	binary.LittleEndian.PutUint32(h[4:8], crc)
	return append(append(dst, h[:]...), payload...)
}

// decodeRecord reads the record at the start of b and returns it with its
// encoded length. The payload aliases b.
func decodeRecord(b []byte) (record, int, error) {
	if len(b) < recordHeaderBytes {
		return record{}, 0, errShortRecord
	}
	n := binary.LittleEndian.Uint32(b[0:4])
	if n > MaxRecordBytes {
		return record{}, 0, errBadRecord
	}
	end := recordHeaderBytes + int(n)
	if len(b) < end {
		return record{}, 0, errShortRecord
	}
	crc := crc32.Update(crc32.Checksum(b[8:16], crcTable), crcTable, b[recordHeaderBytes:end])
	if crc != binary.LittleEndian.Uint32(b[4:8]) {
		return record{}, 0, errBadRecord
	}
	return record{seq: binary.LittleEndian.Uint64(b[8:16]), payload: b[recordHeaderBytes:end]}, end, nil
}
