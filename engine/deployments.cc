#include "engine/deployments.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/audit/rebuild.h"
#include "engine/workflow/logic.h"
#include "google/protobuf/util/message_differencer.h"

namespace gridcase {

absl::Status Deployments::Load() { return LoadDeployments(partitions_->stores(), registry_); }

void Deployments::DeployWorkflow(const std::string& source, const std::string& file_name,
                                 const v1::Actor& actor, DeployCallback done) {
  // The name is repeated in every problem of a refusal, which must stay
  // small enough for a gRPC status.
  if (file_name.size() > kFileNameBytesMax) {
    std::move(done)(absl::InvalidArgumentError(absl::StrCat(
        "file_name: ", file_name.size(), " bytes, at most ", kFileNameBytesMax, " allowed")));
    return;
  }
  auto def = workflow::Definition::Parse(source, file_name.empty() ? "definition" : file_name);
  if (!def.ok()) {
    std::move(done)(def.status());
    return;
  }
  if (!IsValidId(actor.id(), limits_.id_bytes_max)) {
    std::move(done)(
        absl::InvalidArgumentError("actor.id: who deploys is required (1 to "
                                   "128 bytes of printable ASCII)"));
    return;
  }
  const v1::WorkflowDefinition& proto = (*def)->proto();
  const std::string case_id = workflow::WorkflowCaseId(proto.name());
  // A deployment is identified by its definition, whoever deploys it: the
  // same version with the same content again is a duplicate.
  if (auto existing = registry_->Get(proto.name(), proto.version())) {
    if (!google::protobuf::util::MessageDifferencer::Equals(existing->proto(), proto)) {
      std::move(done)(absl::AlreadyExistsError(
          absl::StrCat("workflow ", proto.name(), " version ", proto.version(),
                       " is already deployed with different content; give the "
                       "new definition version ",
                       registry_->Latest(proto.name())->version() + 1)));
      return;
    }
    const PartitionStore& store = partitions_->store(partitions_->PartitionOf(case_id));
    auto position = store.FindEventId(workflow::DeploymentEventId(proto.name(), proto.version()));
    if (!position.ok()) {
      std::move(done)(position.status());
      return;
    }
    v1::DeployWorkflowResponse out;
    out.set_name(proto.name());
    out.set_version(proto.version());
    out.set_position(position->has_value() ? (*position)->value() : 0);
    out.set_duplicate(true);
    std::move(done)(std::move(out));
    return;
  }
  v1::SubmitRequest request;
  v1::Event* e = request.mutable_event();
  e->set_event_id(workflow::DeploymentEventId(proto.name(), proto.version()));
  e->set_case_id(case_id);
  // The deployment's identity is its content: a retry of the same version
  // must compare equal, so occurred_at is not the wall clock.
  e->mutable_occurred_at()->set_seconds(0);
  *e->mutable_actor() = actor;
  e->set_channel(v1::CHANNEL_SYSTEM);
  *e->mutable_workflow_deployed()->mutable_definition() = proto;
  request.set_expected_version(proto.version() - 1);
  const std::string name = proto.name();
  const uint32_t version = proto.version();
  auto latest = registry_->Latest(name);
  partitions_->sequencer(partitions_->PartitionOf(case_id))
      .Submit(std::move(request), [done = std::move(done), name, version,
                                   latest_version = latest ? latest->version() : 0u](
                                      absl::StatusOr<v1::SubmitResponse> r) mutable {
        if (!r.ok()) {
          if (r.status().code() == absl::StatusCode::kFailedPrecondition) {
            std::move(done)(absl::FailedPreconditionError(
                absl::StrCat("workflow ", name, ": version ", version,
                             " is not the next version (the "
                             "latest deployed is ",
                             latest_version, "; deploy version ", latest_version + 1, ")")));
          } else if (r.status().code() == absl::StatusCode::kAlreadyExists) {
            std::move(done)(absl::AlreadyExistsError(
                absl::StrCat("workflow ", name, " version ", version,
                             " is already deployed with different content; "
                             "give the new definition "
                             "version ",
                             latest_version + 1)));
          } else {
            std::move(done)(r.status());
          }
          return;
        }
        v1::DeployWorkflowResponse out;
        out.set_name(name);
        out.set_version(version);
        out.set_position(r->position());
        out.set_duplicate(r->duplicate());
        std::move(done)(std::move(out));
      });
}

v1::ListWorkflowsResponse Deployments::ListWorkflows() const {
  v1::ListWorkflowsResponse out;
  for (const auto& def : registry_->All()) {
    auto* w = out.add_workflows();
    w->set_name(def->name());
    w->set_version(def->version());
    w->set_description(def->proto().description());
    for (const auto& o : def->proto().opens_on()) w->add_opens_on(o.event());
    for (const auto& s : def->proto().stages()) w->add_stages(s.name());
  }
  return out;
}

absl::StatusOr<v1::WorkflowDefinition> Deployments::GetWorkflow(const std::string& name,
                                                                uint32_t version) const {
  auto def = version == 0 ? registry_->Latest(name) : registry_->Get(name, version);
  if (def == nullptr) {
    return absl::NotFoundError(version == 0
                                   ? absl::StrCat("no workflow named ", name, " is deployed")
                                   : absl::StrCat("workflow ", name, " has no version ", version));
  }
  return def->proto();
}

}  // namespace gridcase
