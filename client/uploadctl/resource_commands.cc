// uploadctl create, get, list, cancel.
#include <google/protobuf/util/time_util.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/uploadctl/cli.h"

namespace ossup::uploadctl {
namespace {

struct CreateFlags {
  std::string subject;
  std::string key;
  std::string prefix;
  std::string file_name;
  std::vector<std::string> content_types;
  int64_t min_size = 0;
  int64_t max_size = 0;
  std::string ttl;
  std::vector<std::string> metadata;  // k=v
  std::string bucket;
  std::string request_id;
};

int Create(const GlobalFlags& g, const CreateFlags& f) {
  absl::StatusOr<std::string> parent = Parent(g);
  if (!parent.ok()) return UsageError("create", parent.status());
  v1::CreateUploadRequest request;
  request.set_parent(*parent);
  request.set_subject(f.subject);
  if (!f.key.empty()) {
    request.set_object_key(f.key);
  } else {
    request.mutable_key_template()->set_prefix(f.prefix);
    request.mutable_key_template()->set_file_name(f.file_name);
  }
  for (const auto& t : f.content_types) request.mutable_constraints()->add_content_types(t);
  request.mutable_constraints()->set_min_size(f.min_size);
  request.mutable_constraints()->set_max_size(f.max_size);
  if (!f.ttl.empty()) {
    absl::StatusOr<absl::Duration> ttl = ParseDurationFlag("--ttl", f.ttl);
    if (!ttl.ok()) return UsageError("create", ttl.status());
    request.mutable_ttl()->set_seconds(absl::ToInt64Seconds(*ttl));
  }
  if (absl::Status st = ParseMetadataFlags(f.metadata, request.mutable_metadata()); !st.ok()) {
    return UsageError("create", st);
  }
  request.set_bucket(f.bucket);
  request.set_request_id(f.request_id);

  auto client = Connect(g);
  if (!client.ok()) return UsageError("create", client.status());
  absl::StatusOr<v1::CreateUploadResponse> created = (*client)->CreateUpload(request);
  if (!created.ok()) return Fail("create", created.status());
  if (g.json) {
    std::cout << ToJson(*created) << "\n";
    return kExitOk;
  }
  std::cout << DescribeUpload(created->upload());
  const v1::PostForm& form = created->form();
  std::cout << "\nPOST " << form.url() << " as multipart/form-data, fields in this order:\n";
  for (const auto& field : form.fields()) {
    std::cout << "  " << field.name() << ": " << field.value() << "\n";
  }
  for (const auto& name : form.client_fields()) std::cout << "  " << name << ": (yours to set)\n";
  std::cout << "  " << form.file_field() << ": (the file, last)\n";
  return kExitOk;
}

int GetOrCancel(const GlobalFlags& g, const std::string& arg, bool cancel) {
  const char* verb = cancel ? "cancel" : "get";
  absl::StatusOr<std::string> name = UploadName(g, arg);
  if (!name.ok()) return UsageError(verb, name.status());
  auto client = Connect(g);
  if (!client.ok()) return UsageError(verb, client.status());
  absl::StatusOr<v1::Upload> upload =
      cancel ? (*client)->CancelUpload(*name) : (*client)->GetUpload(*name);
  if (!upload.ok()) return Fail(verb, upload.status());
  std::cout << (g.json ? ToJson(*upload) + "\n" : DescribeUpload(*upload));
  return kExitOk;
}

struct ListFlags {
  std::string subject;
  std::vector<std::string> states;
  int page_size = 0;
  std::string page_token;
  bool all = false;
  std::string created_after;
  std::string created_before;
};

absl::Status ParseTimestampFlag(const std::string& flag, const std::string& value,
                                google::protobuf::Timestamp* out) {
  if (value.empty()) return absl::OkStatus();
  if (!google::protobuf::util::TimeUtil::FromString(value, out)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": '", value, "' is not an RFC 3339 time such as 2026-11-27T10:00:00Z"));
  }
  return absl::OkStatus();
}

int List(const GlobalFlags& g, const ListFlags& f) {
  absl::StatusOr<std::string> parent = Parent(g);
  if (!parent.ok()) return UsageError("list", parent.status());
  v1::ListUploadsRequest request;
  request.set_parent(*parent);
  request.set_subject(f.subject);
  request.set_page_size(f.page_size);
  request.set_page_token(f.page_token);
  for (const std::string& s : f.states) {
    v1::Upload::State state;
    if (!v1::Upload::State_Parse(s, &state) || state == v1::Upload::STATE_UNSPECIFIED) {
      std::cerr << "uploadctl list: --state '" << s
                << "' is not one of PENDING, COMPLETED, REJECTED, EXPIRED, CANCELLED\n";
      return kExitUsage;
    }
    request.add_states(state);
  }
  for (auto [flag, value, ts] :
       {std::tuple{"--created-after", &f.created_after, request.mutable_create_time_after()},
        std::tuple{"--created-before", &f.created_before, request.mutable_create_time_before()}}) {
    if (absl::Status st = ParseTimestampFlag(flag, *value, ts); !st.ok()) {
      return UsageError("list", st);
    }
  }
  if (f.created_after.empty()) request.clear_create_time_after();
  if (f.created_before.empty()) request.clear_create_time_before();

  auto client = Connect(g);
  if (!client.ok()) return UsageError("list", client.status());
  if (!g.json) {
    std::printf("%-66s %-9s %-16s %10s  %s\n", "NAME", "STATE", "SUBJECT", "SIZE", "OBJECT");
  }
  while (true) {
    absl::StatusOr<v1::ListUploadsResponse> page = (*client)->ListUploads(request);
    if (!page.ok()) return Fail("list", page.status());
    if (g.json) {
      std::cout << ToJson(*page) << "\n";
    } else {
      for (const v1::Upload& u : page->uploads()) {
        const std::string size = u.has_object() ? absl::StrCat(u.object().size()) : "-";
        std::printf("%-66s %-9s %-16s %10s  %s/%s\n", u.name().c_str(),
                    v1::Upload::State_Name(u.state()).c_str(), u.owner().subject().c_str(),
                    size.c_str(), u.bucket().c_str(), u.object_key().c_str());
      }
    }
    if (page->next_page_token().empty()) break;
    if (!f.all) {
      if (!g.json) {
        std::cerr << "more: --page-token=" << page->next_page_token() << " (or --all)\n";
      }
      break;
    }
    request.set_page_token(page->next_page_token());
  }
  return kExitOk;
}

}  // namespace

void AddResourceCommands(CLI::App* app, GlobalFlags* flags, int* exit_code) {
  auto create = std::make_shared<CreateFlags>();
  CLI::App* cmd = app->add_subcommand("create", "authorize one upload and print its signed form");
  cmd->description(
      "Creates a PENDING upload and prints the signed PostObject form a client posts to OSS.");
  AddGlobalFlags(cmd, flags);
  cmd->add_option("--subject", create->subject, "who the upload is for (your user id)")->required();
  auto* key = cmd->add_option("--key", create->key, "the exact object key");
  auto* prefix = cmd->add_option("--prefix", create->prefix,
                                 "a key prefix ending in '/'; the service generates a unique key");
  key->excludes(prefix);
  cmd->add_option("--file-name", create->file_name, "with --prefix: the file name to end the key");
  cmd->add_option("--content-type", create->content_types, "an allowed media type (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--min-size", create->min_size, "smallest allowed size in bytes")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-size", create->max_size, "largest allowed size in bytes")
      ->required()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--ttl", create->ttl, "how long the form stays valid, e.g. 15m");
  cmd->add_option("--metadata", create->metadata,
                  "KEY=VALUE echoed back with the upload (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--bucket", create->bucket,
                  "one of the service's buckets (default: its default)");
  cmd->add_option("--request-id", create->request_id,
                  "idempotency key: repeating the request returns the same upload "
                  "(default: a random one, so retries are safe)");
  cmd->callback([flags, create, exit_code] {
    if (create->key.empty() && create->prefix.empty()) {
      std::cerr << "uploadctl create: one of --key or --prefix is required\n";
      *exit_code = kExitUsage;
      return;
    }
    *exit_code = Create(*flags, *create);
  });

  for (bool cancel : {false, true}) {
    auto name = std::make_shared<std::string>();
    CLI::App* c = app->add_subcommand(cancel ? "cancel" : "get",
                                      cancel ? "cancel a PENDING upload" : "show one upload");
    AddGlobalFlags(c, flags);
    c->add_option("NAME", *name, "namespaces/NS/uploads/ID, or ID with --namespace")->required();
    c->callback(
        [flags, name, cancel, exit_code] { *exit_code = GetOrCancel(*flags, *name, cancel); });
  }

  auto list = std::make_shared<ListFlags>();
  CLI::App* l = app->add_subcommand("list", "list uploads, newest first");
  AddGlobalFlags(l, flags);
  l->add_option("--subject", list->subject, "only this subject's uploads");
  l->add_option("--state", list->states,
                "only uploads in this state (repeatable): PENDING, "
                "COMPLETED, REJECTED, EXPIRED, CANCELLED")
      ->allow_extra_args(false);
  l->add_option("--page-size", list->page_size, "uploads per page, 1-1000 (default 100)")
      ->check(CLI::Range(0, 1000));
  l->add_option("--page-token", list->page_token, "continue a previous listing");
  l->add_flag("--all", list->all, "follow every page");
  l->add_option("--created-after", list->created_after, "RFC 3339 time, inclusive");
  l->add_option("--created-before", list->created_before, "RFC 3339 time, exclusive");
  l->callback([flags, list, exit_code] { *exit_code = List(*flags, *list); });
}

}  // namespace ossup::uploadctl
