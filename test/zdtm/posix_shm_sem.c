// zdtm: pass
// POSIX shared memory and semaphores, which live in /dev/shm (they were refused once deleted, and
// their content was lost once the file was): a shm_open'ed object mapped shared, its descriptor
// closed, written after the checkpoint too; a named semaphore (sem_open) at 3; an unnamed one
// made by sem_open and sem_unlink at once, as Python's multiprocessing does, at 2. After the
// restart the object is back at its name with the content it had at the checkpoint (a new open
// of the name is the mapped file), and both semaphores count as they did.
#include "zdtm.h"

#include <semaphore.h>
#include <sys/mman.h>

static void named(char* out, size_t size, const char* what) { snprintf(out, size, "/zdtm-%s-%d", what, getpid()); }

static int value_of(sem_t* sem) {
  int value = -1;
  sem_getvalue(sem, &value);
  return value;
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  char shm_name[64], sem_name[64], gone_name[64];
  named(shm_name, sizeof shm_name, "shm");
  named(sem_name, sizeof sem_name, "sem");
  named(gone_name, sizeof gone_name, "gone");
  int fd = shm_open(shm_name, O_RDWR | O_CREAT | O_EXCL, 0600);
  zdtm_require(fd >= 0 && ftruncate(fd, 3 * 4096) == 0, "shm_open");
  char* shm = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  zdtm_require(shm != MAP_FAILED, "mmap the shm object");
  close(fd);
  strcpy(shm + 4096, "at the checkpoint");
  sem_t* sem = sem_open(sem_name, O_CREAT | O_EXCL, 0600, 3);
  sem_t* gone = sem_open(gone_name, O_CREAT | O_EXCL, 0600, 2);
  zdtm_require(sem != SEM_FAILED && gone != SEM_FAILED && sem_unlink(gone_name) == 0, "sem_open");
  zdtm_ready();
  zdtm_wait();
  strcpy(shm + 4096, "written after the restart");
  fd = shm_open(shm_name, O_RDONLY, 0);
  char seen[32] = {0};
  if (fd < 0 || pread(fd, seen, sizeof seen - 1, 4096) < 0 || strcmp(seen, "written after the restart") != 0) zdtm_fail("%s is not the mapped object (it reads \"%s\")", shm_name, seen);
  if (shm[0] != 0 || shm[2 * 4096] != 0) zdtm_fail("the untouched pages of %s are not zero", shm_name);
  if (value_of(sem) != 3 || value_of(gone) != 2) zdtm_fail("the semaphores count %d and %d, not 3 and 2", value_of(sem), value_of(gone));
  if (sem_wait(gone) != 0 || sem_post(sem) != 0 || value_of(gone) != 1 || value_of(sem) != 4) zdtm_fail("the semaphores do not count on");
  shm_unlink(shm_name);
  sem_unlink(sem_name);
  zdtm_pass();
}
