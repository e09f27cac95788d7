// The on-disk format of DiskQueue segment files, and the reader that recovers records from one.
// Pure functions over bytes (no I/O), so recovery can be tested and fuzzed on its own.
//
// Format version 2 (written by this agent):
//   file header  [magic "\xF5TWQ"][u32 version = 2][u32 size of the previous segment when this one
//                was started (0: unknown)][u32 CRC-32C of the 12 bytes before]
//   each record  [magic "\xF5TWR"][u32 length][u32 CRC-32C of magic + length][u32 CRC-32C of payload][payload]
// All integers little-endian. A record is valid when its header CRC and its payload CRC verify.
// Because the header carries its own checksum, a damaged record can be stepped over even when its
// length field is damaged: the reader scans forward byte by byte for the next magic whose header
// CRC verifies (0xF5 never occurs in UTF-8 text, and a false match needs 64 bits to agree).
//
// Format version 1 (segments written before the upgrade; read only): no file header, each record
// [u32 length][u32 CRC-32C of payload][payload]. A record whose CRC fails is skipped if the
// record after it verifies; otherwise reading resumes at the next offset where two records in a
// row verify (or at `v1_start`, a known record start, when the first record is damaged); with
// none, the rest of the segment is one damaged region.
//
// What scan() reports, in file order, covering every byte after the file header:
//   kRecord   a valid record (its payload);
//   kDamaged  bytes that are not a valid record: one damaged record, or bytes up to the next
//             verified record header (one record, plus one per further record magic in them);
//   kTorn     only at the end of the segment being appended to (`last`): a record whose header
//             verifies but whose payload runs past the end of the file, or a partial header: an
//             append cut short by a crash. It held nothing that was ever acknowledged upstream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace trailwarden {

// CRC-32C (Castagnoli), as used by the record and header checksums.
uint32_t crc32c(std::string_view data);

namespace segment {

constexpr uint32_t kVersion = 2;
constexpr size_t kFileHeaderSize = 16;
constexpr size_t kRecordHeaderSize = 16;  // v2; v1 records had 8

// The 16-byte file header of a version 2 segment. `previous_size`: the size of the segment before
// it, now complete (0: none or unknown; past 4 GiB it is recorded as unknown). A predecessor found
// shorter than that has lost its end.
std::string file_header(uint64_t previous_size = 0);
// Appends `payload` framed as a version 2 record.
void append_record(std::string& out, std::string_view payload);

enum class Format {
  kEmpty,    // no bytes, or only the start of a v2 file header (a crash as the segment was made)
  kV2,
  kV1,
  kNewer,    // a verified v2-style header with a version this agent does not know: not read
};

struct Item {
  enum class Kind { kRecord, kDamaged, kTorn } kind;
  uint64_t offset;           // in the file
  uint64_t size;             // bytes, header included
  std::string_view payload;  // kRecord only; points into the scanned data
  uint32_t records = 1;      // kDamaged: how many records the bytes held, as far as can be told
};

struct ScanResult {
  Format format = Format::kEmpty;
  uint32_t version = 0;          // as read from the file header (kNewer)
  uint64_t previous_size = 0;    // from a verified v2 file header
  bool header_damaged = false;   // v2 records found after a file header that did not verify
  uint64_t data_start = 0;       // where records begin
  std::vector<Item> items;
};

// Reads every record of one segment. `last`: the segment that was being appended to, where an
// incomplete record at the end is a torn append rather than damage. `v1_start`: an offset known
// to start a record (the ack position; 0: none), used if the segment is of format 1 and its
// first record is damaged (no v2 file header verifies, the file does not start with the v2 file
// magic and no v2 record magic occurs). Never throws; memory is bounded by the number of items
// (each at least one byte of `data`).
ScanResult scan(std::string_view data, bool last, uint64_t v1_start = 0);

// How many records damaged v2 bytes held, as far as can be told: one, plus one per further
// record magic in them (records whose header is damaged but whose magic is intact).
uint32_t damaged_records(std::string_view bytes);

}  // namespace segment
}  // namespace trailwarden
