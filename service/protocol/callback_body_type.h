#ifndef OSSUP_SERVICE_PROTOCOL_CALLBACK_BODY_TYPE_H_
#define OSSUP_SERVICE_PROTOCOL_CALLBACK_BODY_TYPE_H_

namespace ossup::protocol {

// The two callback body encodings OSS supports (reference §2.1 callbackBodyType).
enum class CallbackBodyType { kFormUrlEncoded, kJson };

}  // namespace ossup::protocol

#endif  // OSSUP_SERVICE_PROTOCOL_CALLBACK_BODY_TYPE_H_
