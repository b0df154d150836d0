#include "client/uploadctl/cli.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ossup::uploadctl {

void AddGlobalFlags(CLI::App* app, GlobalFlags* flags) {
  const std::string conn = "Connection";
  app->add_option("--target", flags->connection.target,
                  "the service's gRPC address (default: $OSSUP_TARGET, then localhost:50051), e.g. "
                  "dns:///ossup-grpc:50051")
      ->group(conn);
  app->add_flag("--tls", flags->connection.tls, "use TLS with the system roots")->group(conn);
  app->add_option("--tls-ca", flags->connection.ca_file,
                  "PEM file of the CAs to trust, implies --tls (default: $OSSUP_TLS_CA)")
      ->group(conn);
  app->add_option("--tls-cert", flags->connection.cert_file,
                  "PEM client certificate for services that require one (default: $OSSUP_TLS_CERT)")
      ->group(conn);
  app->add_option("--tls-key", flags->connection.key_file,
                  "PEM key of --tls-cert (default: $OSSUP_TLS_KEY)")
      ->group(conn);
  app->add_option("--tls-server-name", flags->connection.server_name,
                  "the name to expect in the service's certificate")
      ->group(conn);
  app->add_option("--token", flags->token,
                  "bearer token (prefer --token-file or OSSUP_TOKEN: flags show in ps)")
      ->group(conn);
  app->add_option("--token-file", flags->token_file,
                  "file holding the bearer token (default: $OSSUP_TOKEN, then $OSSUP_TOKEN_FILE)")
      ->group(conn);
  app->add_option("--timeout", flags->timeout,
                  "deadline of each call to the service, retries included (default 15s)")
      ->group(conn);
  app->add_option("-n,--namespace", flags->ns,
                  "the namespace to work in (default: $OSSUP_NAMESPACE)")
      ->group("Output and scope");
  app->add_flag("--json", flags->json, "print JSON (one object per line) instead of text")
      ->group("Output and scope");
}

absl::Status ParseMetadataFlags(const std::vector<std::string>& pairs,
                                google::protobuf::Map<std::string, std::string>* out) {
  for (const std::string& kv : pairs) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("--metadata needs KEY=VALUE, got '", kv, "'"));
    }
    (*out)[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::Duration> ParseDurationFlag(const std::string& flag,
                                                 const std::string& value) {
  absl::Duration d;
  if (!absl::ParseDuration(value, &d) || d <= absl::ZeroDuration() ||
      d == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": '", value, "' is not a positive duration such as 500ms, 15s or 2m"));
  }
  if (flag == "--ttl" && d < absl::Seconds(1)) {
    return absl::InvalidArgumentError("--ttl: at least 1s (the service counts whole seconds)");
  }
  return d;
}

namespace {

// The flag's value, else the environment variable's, else `fallback`. (Done here rather than
// with CLI11's envname, which the several subcommands sharing one flag variable would overwrite.)
std::string FlagOrEnv(const std::string& value, const char* env, const std::string& fallback = "") {
  if (!value.empty()) return value;
  const char* e = std::getenv(env);
  return e != nullptr && *e != '\0' ? std::string(e) : fallback;
}

}  // namespace

absl::StatusOr<std::unique_ptr<client::UploadClient>> Connect(const GlobalFlags& flags) {
  client::ConnectionOptions connection = flags.connection;
  connection.target = FlagOrEnv(connection.target, "OSSUP_TARGET", "localhost:50051");
  connection.ca_file = FlagOrEnv(connection.ca_file, "OSSUP_TLS_CA");
  connection.cert_file = FlagOrEnv(connection.cert_file, "OSSUP_TLS_CERT");
  connection.key_file = FlagOrEnv(connection.key_file, "OSSUP_TLS_KEY");
  absl::StatusOr<absl::Duration> timeout = ParseDurationFlag("--timeout", flags.timeout);
  if (!timeout.ok()) return timeout.status();
  absl::StatusOr<std::string> token = client::ResolveToken(flags.token, flags.token_file);
  if (!token.ok()) return absl::InvalidArgumentError(token.status().message());
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = client::OpenChannel(connection);
  if (!channel.ok()) return absl::InvalidArgumentError(channel.status().message());
  client::ClientOptions options;
  options.token = *std::move(token);
  options.call_timeout = *timeout;
  return std::make_unique<client::UploadClient>(*std::move(channel), std::move(options));
}

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnavailable;
    default:
      return kExitServiceError;
  }
}

int Fail(const std::string& context, const absl::Status& status) {
  std::cerr << "uploadctl: " << context << ": " << absl::StatusCodeToString(status.code()) << ": "
            << status.message() << "\n";
  return ExitCodeFor(status);
}

int UsageError(const std::string& context, const absl::Status& status) {
  std::cerr << "uploadctl " << context << ": " << status.message() << "\n";
  return kExitUsage;
}

absl::StatusOr<std::string> Parent(const GlobalFlags& flags) {
  const std::string ns = FlagOrEnv(flags.ns, "OSSUP_NAMESPACE");
  if (ns.empty()) {
    return absl::InvalidArgumentError("--namespace (or OSSUP_NAMESPACE) is required");
  }
  return absl::StrCat("namespaces/", ns);
}

absl::StatusOr<std::string> UploadName(const GlobalFlags& flags, const std::string& arg) {
  if (absl::StartsWith(arg, "namespaces/")) return arg;
  absl::StatusOr<std::string> parent = Parent(flags);
  if (!parent.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", arg, "' is a bare upload id: give the full name or --namespace"));
  }
  return absl::StrCat(*parent, "/uploads/", arg);
}

std::string ToJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) return "{}";
  return out;
}

std::string FormatTime(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return google::protobuf::util::TimeUtil::ToString(t);
}

std::string DescribeUpload(const v1::Upload& u) {
  std::string out = absl::StrCat("name:        ", u.name(), "\n",                           //
                                 "state:       ", v1::Upload::State_Name(u.state()), "\n",  //
                                 "subject:     ", u.owner().subject(), "\n",                //
                                 "object:      ", u.bucket(), "/", u.object_key(), "\n");
  const auto& c = u.constraints();
  absl::StrAppend(&out, "size:        ", c.min_size(), "..", c.max_size(), " bytes\n");
  if (c.content_types_size() > 0) {
    absl::StrAppend(&out, "types:       ", absl::StrJoin(c.content_types(), ", "), "\n");
  }
  for (const auto& [k, v] : u.metadata()) absl::StrAppend(&out, "metadata:    ", k, "=", v, "\n");
  absl::StrAppend(&out, "created:     ", FormatTime(u.create_time()), "\n",  //
                  "updated:     ", FormatTime(u.update_time()), "\n",        //
                  "expires:     ", FormatTime(u.expire_time()), "\n");
  if (u.has_object()) {
    absl::StrAppend(&out, "uploaded:    ", u.object().size(), " bytes, ", u.object().content_type(),
                    ", etag ", u.object().etag(), "\n");
  }
  if (!u.rejection_reason().empty()) {
    absl::StrAppend(&out, "rejected:    ", u.rejection_reason(), "\n");
  }
  if (!u.request_id().empty()) absl::StrAppend(&out, "request id:  ", u.request_id(), "\n");
  return out;
}

std::string DescribeEvent(const v1::UploadEvent& e) {
  const v1::Upload& u = e.upload();
  std::string out = absl::StrCat("#", e.sequence(), " ", v1::UploadEvent::Type_Name(e.type()), " ",
                                 u.name(), " ", u.bucket(), "/", u.object_key());
  if (u.has_object()) absl::StrAppend(&out, " ", u.object().size(), " bytes");
  if (!u.rejection_reason().empty()) absl::StrAppend(&out, " (", u.rejection_reason(), ")");
  absl::StrAppend(&out, " at ", FormatTime(e.event_time()));
  return out;
}

}  // namespace ossup::uploadctl
