/* A C program against an installed libmmsb.so (pkg-config mmsb-c): open an engine, commit
 * a page, read it back zero-copy, close. Prints what it saw; exits non-zero on any error. */
#include <mmsb/mmsb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(mmsb_status status, const char* what) {
  if (status != MMSB_OK) {
    fprintf(stderr, "%s: %s: %s\n", what, mmsb_status_name(status), mmsb_last_error());
    exit(1);
  }
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  mmsb_engine_options options;
  mmsb_engine_options_init(&options);
  options.durability = MMSB_DURABILITY_NONE;
  mmsb_engine* engine = NULL;
  check(mmsb_engine_open(argv[1], &options, &engine), "open");

  mmsb_txn* txn = NULL;
  uint64_t page = 0;
  check(mmsb_txn_begin(engine, &txn), "begin");
  check(mmsb_txn_create_page(txn, 0, 5, "hello", &page), "create_page");
  mmsb_commit_info info;
  check(mmsb_txn_commit(txn, &info), "commit");
  page = info.created_pages[0];
  mmsb_txn_free(txn);

  mmsb_snapshot* snapshot = NULL;
  check(mmsb_engine_snapshot(engine, &snapshot), "snapshot");
  mmsb_page read;
  check(mmsb_snapshot_page(snapshot, page, &read), "page");
  if (read.size != 5 || memcmp(read.bytes, "hello", 5) != 0) {
    fprintf(stderr, "read back the wrong bytes\n");
    return 1;
  }
  printf("mmsb %s (C ABI %u): page %llu at tick %llu reads '%.5s'\n", mmsb_version(),
         mmsb_abi_version(), (unsigned long long)page,
         (unsigned long long)mmsb_snapshot_tick(snapshot), (const char*)read.bytes);
  mmsb_snapshot_free(snapshot);
  check(mmsb_engine_close(engine), "close");
  return 0;
}
