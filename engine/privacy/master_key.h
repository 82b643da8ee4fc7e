// The master key that wraps every person's key (engine/privacy/key_store.h):
// 32 bytes, written as 64 hexadecimal digits in a file only its owner may
// read. By default DATA_DIR/keys/master.key, made on first start; a site
// keeps it on another volume or a secrets mount (--master-key), so that a
// copy of the data directory alone opens no personal field.
#ifndef GRIDCASE_ENGINE_PRIVACY_MASTER_KEY_H_
#define GRIDCASE_ENGINE_PRIVACY_MASTER_KEY_H_

#include <string>

#include "absl/status/statusor.h"

namespace rocksdb {
class Env;
}

namespace gridcase::privacy {

// The key at `path` (empty: DATA_DIR/keys/master.key, created when
// missing, and then `*created` names it). FAILED_PRECONDITION naming path,
// mode and owner when others may read or change it; INVALID_ARGUMENT when
// it is not 64 hex digits. Never puts key bytes in a message.
//
// The file is read, and made whole and durable before it is used, through
// `env`'s file system (nullptr: RocksDB's default), the one the key store's
// database uses: a crash of the machine leaves no key or the whole key.
absl::StatusOr<std::string> LoadMasterKey(const std::string& path, const std::string& data_dir,
                                          std::string* created = nullptr,
                                          rocksdb::Env* env = nullptr);

}  // namespace gridcase::privacy

#endif  // GRIDCASE_ENGINE_PRIVACY_MASTER_KEY_H_
