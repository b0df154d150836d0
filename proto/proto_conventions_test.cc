// Checks the API conventions of DEVELOPERS.md / the AIPs on the compiled descriptors, so a change
// to the .proto that breaks them fails the build's tests rather than a reviewer's eye.
#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "ossup/upload/v1/upload_service.grpc.pb.h"

namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;

const FileDescriptor* ApiFile() { return ossup::upload::v1::Upload::descriptor()->file(); }

const google::protobuf::ServiceDescriptor* Service() {
  return ApiFile()->FindServiceByName("UploadService");
}

void CheckEnum(const EnumDescriptor* e) {
  ASSERT_GT(e->value_count(), 0) << e->full_name();
  const auto* zero = e->FindValueByNumber(0);
  ASSERT_NE(zero, nullptr) << e->full_name() << " has no zero value";
  EXPECT_THAT(zero->name(), ::testing::EndsWith("_UNSPECIFIED")) << e->full_name();
}

void CheckMessage(const Descriptor* m) {
  for (int i = 0; i < m->enum_type_count(); ++i) CheckEnum(m->enum_type(i));
  for (int i = 0; i < m->nested_type_count(); ++i) CheckMessage(m->nested_type(i));
  for (int i = 0; i < m->field_count(); ++i) {
    const FieldDescriptor* f = m->field(i);
    // Times are Timestamps (AIP-142): a field named *_time must be one, and no raw epoch ints.
    if (f->name().size() > 5 && f->name().substr(f->name().size() - 5) == "_time") {
      ASSERT_EQ(f->type(), FieldDescriptor::TYPE_MESSAGE) << f->full_name();
      EXPECT_EQ(f->message_type()->full_name(), "google.protobuf.Timestamp") << f->full_name();
    }
  }
}

TEST(ProtoConventionsTest, EnumsHaveUnspecifiedZero) {
  const FileDescriptor* file = ApiFile();
  ASSERT_NE(file, nullptr);
  for (int i = 0; i < file->enum_type_count(); ++i) CheckEnum(file->enum_type(i));
  for (int i = 0; i < file->message_type_count(); ++i) CheckMessage(file->message_type(i));
}

TEST(ProtoConventionsTest, ListMethodsPage) {
  const auto* service = Service();
  ASSERT_NE(service, nullptr);
  for (int i = 0; i < service->method_count(); ++i) {
    const auto* method = service->method(i);
    if (method->name().rfind("List", 0) != 0) continue;
    const Descriptor* req = method->input_type();
    ASSERT_NE(req->FindFieldByName("page_size"), nullptr) << method->full_name();
    EXPECT_EQ(req->FindFieldByName("page_size")->type(), FieldDescriptor::TYPE_INT32);
    ASSERT_NE(req->FindFieldByName("page_token"), nullptr) << method->full_name();
    ASSERT_NE(method->output_type()->FindFieldByName("next_page_token"), nullptr);
  }
}

TEST(ProtoConventionsTest, ResourcesAndRequestsAreNamed) {
  const auto* service = Service();
  ASSERT_NE(service, nullptr);
  EXPECT_NE(ossup::upload::v1::Upload::descriptor()->FindFieldByName("name"), nullptr);
  for (int i = 0; i < service->method_count(); ++i) {
    const Descriptor* req = service->method(i)->input_type();
    // Standard methods address a resource by `name` or a collection by `parent` (AIP-131..135).
    EXPECT_TRUE(req->FindFieldByName("name") != nullptr ||
                req->FindFieldByName("parent") != nullptr)
        << service->method(i)->full_name();
  }
}

}  // namespace
