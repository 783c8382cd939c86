package xlsx

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"unicode/utf16"
)

// oleSignature starts every OLE2 compound file (Compound File Binary).
var oleSignature = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}

// Sector numbers with a special meaning in a compound file's FAT.
const (
	oleMaxRegSect = 0xFFFFFFFA
	oleEndOfChain = 0xFFFFFFFE
)

// oleError tells what an OLE2 compound file is, from the names of the streams
// in its directory: EncryptionInfo means an encrypted workbook (Excel
// encrypts an .xlsx by wrapping it in a compound file), Workbook or Book an
// Excel 97-2003 workbook. A directory that cannot be read, or holds neither,
// gives a message that names both possibilities.
func oleError(r io.ReaderAt, size int64) error {
	names, _ := oleStreamNames(r, size)
	for _, n := range names {
		if n == "EncryptionInfo" || n == "EncryptedPackage" {
			return ErrEncrypted
		}
	}
	for _, n := range names {
		if n == "Workbook" || n == "Book" {
			return ErrLegacyXLS
		}
	}
	return fmt.Errorf("%w: the file is an OLE2 compound document, such as an encrypted workbook or an Excel 97-2003 .xls file", ErrNotWorkbook)
}

// oleStreamNames walks the directory chain of a compound file and returns the
// names of its entries. It reads at most a bounded number of sectors, so a
// cyclic or huge chain cannot make it loop, and stops at the first error with
// the names found so far.
func oleStreamNames(r io.ReaderAt, size int64) ([]string, error) {
	hdr := make([]byte, 512)
	if _, err := r.ReadAt(hdr, 0); err != nil {
		return nil, err
	}
	shift := binary.LittleEndian.Uint16(hdr[30:])
	if shift != 9 && shift != 12 {
		return nil, fmt.Errorf("sector shift %d", shift)
	}
	sectorSize := int64(1) << shift
	sectors := size / sectorSize
	read := func(sect uint32, buf []byte) error {
		if int64(sect) >= sectors {
			return fmt.Errorf("sector %d beyond the file", sect)
		}
		_, err := r.ReadAt(buf, (int64(sect)+1)*sectorSize)
		return err
	}

	// The FAT sectors are listed in the header (109 of them) and then in a
	// chain of DIFAT sectors.
	var fatSectors []uint32
	for i := 0; i < 109; i++ {
		if s := binary.LittleEndian.Uint32(hdr[76+4*i:]); s <= oleMaxRegSect {
			fatSectors = append(fatSectors, s)
		}
	}
	buf := make([]byte, sectorSize)
	difat := binary.LittleEndian.Uint32(hdr[68:])
	perSector := int(sectorSize/4) - 1
	// A FAT sector describes sectorSize/4 sectors, so a file of n sectors
	// needs no more FAT sectors than that; the bound keeps a cyclic DIFAT
	// chain from growing the list.
	maxFAT := int(sectors/(sectorSize/4)) + 1
	difatCount := int64(binary.LittleEndian.Uint32(hdr[72:]))
	for n := int64(0); difat <= oleMaxRegSect && n < min(difatCount, sectors) && len(fatSectors) < maxFAT; n++ {
		if err := read(difat, buf); err != nil {
			break
		}
		for i := 0; i < perSector; i++ {
			if s := binary.LittleEndian.Uint32(buf[4*i:]); s <= oleMaxRegSect {
				fatSectors = append(fatSectors, s)
			}
		}
		difat = binary.LittleEndian.Uint32(buf[4*perSector:])
	}
	fat := make([]byte, sectorSize)
	nextSector := func(s uint32) (uint32, error) {
		per := uint32(sectorSize / 4)
		i := s / per
		if int(i) >= len(fatSectors) {
			return 0, fmt.Errorf("sector %d is not in the FAT", s)
		}
		if err := read(fatSectors[i], fat); err != nil {
			return 0, err
		}
		return binary.LittleEndian.Uint32(fat[4*(s%per):]), nil
	}

	var names []string
	dir := binary.LittleEndian.Uint32(hdr[48:])
	for n := int64(0); dir != oleEndOfChain && n < min(sectors, 4096); n++ {
		if err := read(dir, buf); err != nil {
			return names, err
		}
		for off := int64(0); off+128 <= sectorSize; off += 128 {
			e := buf[off : off+128]
			nameLen := int(binary.LittleEndian.Uint16(e[64:]))
			if nameLen < 2 || nameLen > 64 || e[66] == 0 {
				continue
			}
			u := make([]uint16, nameLen/2-1)
			for i := range u {
				u[i] = binary.LittleEndian.Uint16(e[2*i:])
			}
			names = append(names, string(utf16.Decode(u)))
		}
		next, err := nextSector(dir)
		if err != nil {
			return names, err
		}
		dir = next
	}
	return names, nil
}

// isOLE reports whether the data starts with the OLE2 signature.
func isOLE(r io.ReaderAt, size int64) bool {
	if size < int64(len(oleSignature)) {
		return false
	}
	b := make([]byte, len(oleSignature))
	if _, err := r.ReadAt(b, 0); err != nil {
		return false
	}
	return bytes.Equal(b, oleSignature)
}
