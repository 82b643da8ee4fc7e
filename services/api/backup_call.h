// AdminService.Backup: a server stream on the callback API. The backup runs
// on a thread of its own (it copies for minutes); its progress is written
// to the caller one message at a time, and a caller who goes away (or a
// server shutting down) stops it.
#ifndef GRIDCASE_SERVICES_API_BACKUP_CALL_H_
#define GRIDCASE_SERVICES_API_BACKUP_CALL_H_

#include "engine/engine.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "services/security/gate.h"

namespace gridcase::api {

// The reactor of one Backup call (it deletes itself when done).
grpc::ServerWriteReactor<v1::BackupProgress>* StartBackupCall(grpc::CallbackServerContext* context,
                                                              const v1::BackupRequest* request,
                                                              Engine* engine,
                                                              const security::Gate* gate);

}  // namespace gridcase::api

#endif  // GRIDCASE_SERVICES_API_BACKUP_CALL_H_
