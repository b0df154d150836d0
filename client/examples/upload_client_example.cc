// How a C++ backend uses ossup::client: authorize one upload, hand the form to the browser, and
// learn the outcome from a watch that survives service restarts.
//
//   OSSUP_TOKEN=... upload_client_example localhost:50051 NAMESPACE
//
// Prints the form as JSON (what a backend would send to its page), then the upload's event.
#include <google/protobuf/util/json_util.h>

#include <iostream>

#include "client/connection.h"
#include "client/upload_client.h"

namespace v1 = ossup::upload::v1;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: OSSUP_TOKEN=... " << argv[0] << " TARGET NAMESPACE\n";
    return 2;
  }
  // 1. One channel and one client per process; both are thread-safe.
  ossup::client::ConnectionOptions connection;
  connection.target = argv[1];  // set .tls / .ca_file / .cert_file for TLS and mTLS
  auto channel = ossup::client::OpenChannel(connection);
  auto token = ossup::client::ResolveToken(/*flag_value=*/"", /*flag_file=*/"");
  if (!channel.ok() || !token.ok()) {
    std::cerr << (channel.ok() ? token.status() : channel.status()) << "\n";
    return 2;
  }
  ossup::client::ClientOptions options;
  options.token = *token;
  options.call_timeout = absl::Seconds(5);  // every call, retries included
  ossup::client::UploadClient client(*channel, options);

  // 2. Authorize one upload. Retries are safe: the client adds a request_id.
  const std::string parent = std::string("namespaces/") + argv[2];
  v1::CreateUploadRequest request;
  request.set_parent(parent);
  request.set_subject("user-42");
  request.mutable_key_template()->set_prefix("avatars/");
  request.mutable_key_template()->set_file_name("me.png");
  request.mutable_constraints()->add_content_types("image/png");
  request.mutable_constraints()->set_max_size(5 << 20);
  absl::StatusOr<v1::CreateUploadResponse> created = client.CreateUpload(request);
  if (!created.ok()) {
    std::cerr << created.status() << "\n";
    return 1;
  }

  // 3. Watch from now (pinned to a sequence, so reconnects miss nothing), then hand out the form.
  v1::WatchUploadsRequest watch;
  watch.set_parent(parent);
  watch.add_upload_names(created->upload().name());
  watch.set_from_now(true);
  auto stream = client.Watch(watch);
  if (!stream.ok()) {
    std::cerr << stream.status() << "\n";
    return 1;
  }
  std::string form_json;
  (void)google::protobuf::util::MessageToJsonString(created->form(), &form_json);
  std::cout << form_json << std::endl;

  // 4. The outcome: COMPLETED, REJECTED, or EXPIRED once the form's time is up.
  absl::StatusOr<v1::UploadEvent> event = (*stream)->Next(absl::Now() + absl::Minutes(20));
  if (!event.ok()) {
    std::cerr << event.status() << "\n";
    return 1;
  }
  std::cout << v1::UploadEvent::Type_Name(event->type()) << " " << event->upload().object_key()
            << " after sequence " << (*stream)->last_sequence() << "\n";
  return 0;
}
