#include "service/common/thread_name.h"

#include <pthread.h>

#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace ossup {
namespace {

std::string NameOfThisThread() {
  char name[16] = {};
  pthread_getname_np(pthread_self(), name, sizeof(name));
  return name;
}

TEST(ThreadNameTest, NamedThreadRunsItsBodyUnderItsName) {
  std::string name;
  NamedThread("ossup-named", [&] { name = NameOfThisThread(); }).join();
  EXPECT_EQ(name, "ossup-named");
}

TEST(ThreadNameTest, NamesTheCallingThreadAndKeepsFifteenBytes) {
  std::string short_name, long_name;
  std::thread([&] {
    SetCurrentThreadName("ossup-test");
    short_name = NameOfThisThread();
    SetCurrentThreadName("ossup-a-name-longer-than-fifteen");
    long_name = NameOfThisThread();
  }).join();
  EXPECT_EQ(short_name, "ossup-test");
  EXPECT_EQ(long_name, "ossup-a-name-lo");
}

}  // namespace
}  // namespace ossup
