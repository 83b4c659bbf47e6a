#include "process/session_list.h"

namespace sluice::process {

void SessionList::add(std::unique_ptr<Session> session) {
  Session* s = session.release();  // owned through the links until remove()
  s->listPrev_ = nullptr;
  s->listNext_ = head_;
  if (head_ != nullptr) head_->listPrev_ = s;
  head_ = s;
}

std::unique_ptr<Session> SessionList::remove(Session* session) {
  if (session == nullptr || !contains(session)) return nullptr;
  if (session->listPrev_ != nullptr) {
    session->listPrev_->listNext_ = session->listNext_;
  } else {
    head_ = session->listNext_;
  }
  if (session->listNext_ != nullptr) session->listNext_->listPrev_ = session->listPrev_;
  session->listPrev_ = session->listNext_ = nullptr;
  return std::unique_ptr<Session>(session);
}

std::vector<Session*> SessionList::snapshot() const {
  std::vector<Session*> all;
  for (Session* s = head_; s != nullptr; s = s->listNext_)
    all.push_back(s);
  return all;
}

void SessionList::clear() {
  while (head_ != nullptr)
    remove(head_);  // the returned unique_ptr deletes it
}

}  // namespace sluice::process
