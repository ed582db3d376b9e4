// zdtm: pass
// Credentials that are not cr's, set by glibc's setresuid/setresgid/setgroups (which change every
// thread) in a process with two threads more: after the restart every thread has them, not the
// root credentials of the cr that rebuilt it (a raw setresuid changes the calling thread only).
#include "zdtm.h"

#include <dirent.h>
#include <grp.h>
#include <pthread.h>
#include <sys/stat.h>

static void* idle(void* arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
}

/** "Uid: ..." or "Gid: ..." or "Groups: ..." of /proc/self/task/TID/status, without the key. */
static int field(const char* tid, const char* key, char* out, size_t size) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/self/task/%s/status", tid);
  FILE* f = fopen(path, "r");
  if (!f) return -1;
  int found = -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':') {
      snprintf(out, size, "%s", line + strlen(key) + 1);
      found = 0;
    }
  fclose(f);
  return found;
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  // The program's own directory: writable by the uid it becomes (OUT.ready and OUT go there).
  zdtm_require(chmod(".", 0777) == 0, "chmod .");
  pthread_t t[2];
  for (int i = 0; i < 2; i++) zdtm_require(pthread_create(&t[i], NULL, idle, NULL) == 0, "pthread_create");
  static const gid_t groups[] = {4321};
  zdtm_require(setgroups(1, groups) == 0, "setgroups");
  zdtm_require(setresgid(65534, 65534, 65534) == 0, "setresgid");
  zdtm_require(setresuid(65534, 65534, 65534) == 0, "setresuid");
  zdtm_ready();
  zdtm_wait();
  DIR* tasks = opendir("/proc/self/task");
  if (!tasks) zdtm_fail("opendir /proc/self/task: %s", strerrorname_np(errno));
  int threads = 0;
  for (struct dirent* e; (e = readdir(tasks));) {
    if (e->d_name[0] == '.') continue;
    char uid[128], gid[128], grp[128];
    if (field(e->d_name, "Uid", uid, sizeof uid) || field(e->d_name, "Gid", gid, sizeof gid) || field(e->d_name, "Groups", grp, sizeof grp))
      zdtm_fail("thread %s: status unreadable", e->d_name);
    if (strcmp(uid, "\t65534\t65534\t65534\t65534\n") != 0) zdtm_fail("thread %s has uids%s", e->d_name, uid);
    if (strcmp(gid, "\t65534\t65534\t65534\t65534\n") != 0) zdtm_fail("thread %s has gids%s", e->d_name, gid);
    if (strcmp(grp, "\t4321 \n") != 0 && strcmp(grp, "\t4321\n") != 0) zdtm_fail("thread %s has groups%s", e->d_name, grp);
    threads++;
  }
  closedir(tasks);
  if (threads != 3) zdtm_fail("%d threads, expected 3", threads);
  zdtm_pass();
}
