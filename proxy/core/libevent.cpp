#include "core/libevent.h"

#include <event2/thread.h>
#include <csignal>
#include <mutex>

namespace sluice::core {

void initLibevent() {
  static std::once_flag once;
  std::call_once(once, [] {
    evthread_use_pthreads();
    // A peer that closes while we write must give EPIPE, not kill the process.
    std::signal(SIGPIPE, SIG_IGN);
  });
}

}  // namespace sluice::core
