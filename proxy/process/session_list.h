#pragma once

// SessionList: a worker's table of live sessions, as an owning intrusive
// doubly-linked list. Each session carries its own links, so registering one
// allocates nothing (a hash-map node cost about 60 bytes per session, and
// most sessions are idle keep-alive clients that hold little else).
//
// Owner: the Worker. Thread: that worker.

#include <memory>
#include <vector>

#include "process/session.h"

namespace sluice::process {

class SessionList {
 public:
  SessionList() = default;
  SessionList(const SessionList&) = delete;
  SessionList& operator=(const SessionList&) = delete;
  ~SessionList() { clear(); }

  void add(std::unique_ptr<Session> session);
  // Takes it out and hands ownership back; null if it is not listed.
  std::unique_ptr<Session> remove(Session* session);
  // Listed sessions are the head and those with a predecessor.
  bool contains(const Session* session) const {
    return session->listPrev_ != nullptr || session == head_;
  }
  // A copy to iterate over while sessions end (and leave the list).
  std::vector<Session*> snapshot() const;
  void clear();

 private:
  Session* head_ = nullptr;
};

}  // namespace sluice::process
