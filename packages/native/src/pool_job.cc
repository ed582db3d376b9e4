#include "pool_job.h"

#include <utility>

namespace {

class PoolJob : public Napi::AsyncWorker {
 public:
  PoolJob(Napi::Env env, Napi::Object keep, std::function<Status()> work, std::function<Napi::Value(Napi::Env)> result)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), keep_(Napi::Persistent(keep)), work_(std::move(work)), result_(std::move(result)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override { status_ = work_(); }

  void OnOK() override {
    if (status_) {
      deferred_.Reject(ErrorValue(Env(), *status_));
    } else {
      deferred_.Resolve(result_(Env()));
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference keep_;
  std::function<Status()> work_;
  std::function<Napi::Value(Napi::Env)> result_;
  Status status_;
};

}  // namespace

Napi::Promise StartPoolJob(Napi::Env env, Napi::Object keep, std::function<Status()> work, std::function<Napi::Value(Napi::Env)> result) {
  auto* job = new PoolJob(env, keep, std::move(work), std::move(result));  // deleted by AsyncWorker when done
  Napi::Promise promise = job->Promise();
  job->Queue();
  return promise;
}
