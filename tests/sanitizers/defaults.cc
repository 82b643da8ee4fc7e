// Linked into every program of a sanitizer build (GRIDCASE_SANITIZE, see the
// top CMakeLists.txt): tests, the gridcased they start and the CLI. The
// runtimes read these at start, so a finding fails the test whichever
// process it happens in, and no environment needs setting. Variables such as
// ASAN_OPTIONS still override them.
//
// Suppressions are only for Debian's libraries, which are not built with the
// sanitizers; each says why. None names gridcase code: a finding in it is a
// defect to fix.

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GRIDCASE_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define GRIDCASE_TSAN 1
#endif
#endif

#if defined(GRIDCASE_ASAN)

extern "C" const char* __asan_default_options() {
  // abort_on_error: a child server's finding kills it with SIGABRT, which
  // the test watching it reports, instead of a quiet exit code.
  return "detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:"
         "strict_init_order=1:check_initialization_order=1";
}

extern "C" const char* __lsan_default_suppressions() { return ""; }

extern "C" const char* __ubsan_default_options() { return "halt_on_error=1:print_stacktrace=1"; }

#endif  // GRIDCASE_ASAN

#if defined(GRIDCASE_TSAN)

extern "C" const char* __tsan_default_options() {
  return "halt_on_error=1:abort_on_error=1:second_deadlock_stack=1:history_size=4:"
         // Accesses made by Debian's libraries (RocksDB, gRPC, Abseil) through
         // intercepted calls (memcpy, memcmp) are theirs to order.
         "ignore_noninstrumented_modules=1";
}

extern "C" const char* __tsan_default_suppressions() {
  // Debian's RocksDB (linked statically, not instrumented) orders its own
  // threads through atomics ThreadSanitizer does not see, then takes
  // intercepted pthread locks on memory its other threads made: reported
  // as races inside rocksdb:: frames (the block cache's statistics
  // collector, the thread pool), with gridcase code only as the caller.
  //
  // Abseil's deadlock detector (not instrumented) keeps its lock graph
  // under a spin lock ThreadSanitizer does not see; only the graph's own
  // copies are reported.
  //
  // gRPC's callback tags and operation sets (header code, so instrumented)
  // are written by the thread that starts an operation and run by the one
  // that completes it, ordered by libgrpc's completion queue, which is not
  // instrumented. Only reports whose top frame is in gRPC's headers, and
  // two where the top frame is std::function code inlined into them: the
  // send-message op re-arming its serializer for the interceptors while it
  // finishes, and a stream's next write setting the serializer of the op
  // set the last write used (the last write's completion, which ordered
  // them, ran inside libgrpc). The second names the raw-bytes send only,
  // which runs no serializer of ours: a response message of ours changed
  // while gRPC serializes it is still reported.
  return "race:rocksdb::\n"
         "race:absl::debian3::synchronization_internal::GraphCycles\n"
         "race_top:/usr/include/grpcpp/\n"
         "race:grpc::internal::CallOpSendMessage::SetFinishInterceptionHookPoint\n"
         "race:SendMessagePtr<grpc::ByteBuffer>\n";
}

#endif  // GRIDCASE_TSAN
