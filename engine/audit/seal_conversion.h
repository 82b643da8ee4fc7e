// Converting a data directory written before personal fields were sealed
// (docs/privacy.md): every record keeps its position, and its personal
// fields are sealed under its subject's key as the sequencer would have
// sealed them; the log is chained anew from a genesis that names the old
// chain's head (ChainOrigin, chain.proto), so the new log is linked to
// the old one and to its signed heads; derived state is replayed through
// the appliers as a rebuild does.
//
// The source is read only; it must be a stopped server's data directory
// or a checkpoint. The result is written to DIR.partial (removed again if
// the conversion fails) and renamed to DIR only once it is whole, synced
// and verified: each record the conversion sealed (Sealed.by_conversion),
// opened with its key, is byte for byte the old record, so the old chain
// re-derived from the new log ends at the old head, and every old signed
// head holds.
#ifndef GRIDCASE_ENGINE_AUDIT_SEAL_CONVERSION_H_
#define GRIDCASE_ENGINE_AUDIT_SEAL_CONVERSION_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/audit/rebuild.h"

namespace gridcase {

struct SealConversionOptions {
  std::string from_dir;  // read only
  std::string to_dir;    // must not exist
  // 32 bytes: wraps the new keys; opens FROM/keys/subjects when it exists
  // (a directory partly sealed already).
  std::string master_key;
  // Optional: the old signed heads' signatures are checked against it too
  // (their hashes always are).
  std::string public_key_pem;
  int64_t converted_at_us = 0;
  // Called from time to time; `phase` is "checking", "sealing",
  // "verifying", and "done" at the end.
  std::function<void(const RebuildProgress&)> progress;
};

struct SealConversionReport {
  uint32_t partitions = 0;
  uint64_t records = 0;
  uint64_t records_sealed = 0;    // records whose personal fields were in clear
  uint64_t letters_sealed = 0;    // dead letters not yet handed on, sealed
  uint64_t old_signed_heads = 0;  // checked, and kept in the origins
  double seconds = 0;
};

// FAILED_PRECONDITION when TO (or TO.partial) exists, FROM is not a data
// directory of this build's format, or the master key does not open
// FROM's key store; DATA_LOSS when FROM's chain or a signed head does not
// hold (a damaged log is not converted: `gridcase audit verify`), or when
// a record would not come back byte for byte.
absl::StatusOr<SealConversionReport> SealDataDirectory(const SealConversionOptions& options);

// One partition of a converted data directory, checked with the keys.
struct ConversionCheck {
  uint32_t partition = 0;
  bool converted = false;  // has a ChainOrigin
  uint64_t old_records = 0;
  // Records of the old log whose sealed fields do not open (their
  // subject erased since): the old chain cannot be re-derived past them.
  uint64_t unopenable = 0;
  // The old chain, re-derived from the new log's first old_records
  // records opened, ends at the origin's old head, and every old signed
  // head holds; false when unopenable > 0 or something differs (problem).
  bool old_chain_rederived = false;
  std::string problem;  // empty: nothing wrong found
};

// Re-derives every converted partition's old chain from `data_dir`'s log
// (a stopped server's, or a checkpoint with keys), opening records with
// the key store under `master_key`.
absl::StatusOr<std::vector<ConversionCheck>> VerifyConversion(const std::string& data_dir,
                                                              const std::string& master_key);

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_AUDIT_SEAL_CONVERSION_H_
