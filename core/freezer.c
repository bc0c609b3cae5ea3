/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cgroup-freeze.h"
#include "freezer.h"
#include "macro.h"
#include "util.h"

struct job {
	struct job *next;
	int fd;
	uint64_t id;
	bool freeze;
};

struct freezer {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, *tail;	/* under lock */
	bool stop, started;		/* under lock; started: the thread runs */
	pthread_t thread;
	int sock[2];			/* reports: thread -> loop (SOCK_SEQPACKET) */
	sd_event_source *source;
	freezer_done_t done;
	void *userdata;
};

static void *freezer_thread(void *p)
{
	struct freezer *f = p;

	for (;;) {
		struct freezer_done d = { .populated = -1 };
		struct job *j;
		int frozen;

		pthread_mutex_lock(&f->lock);
		while (!f->head && !f->stop)
			pthread_cond_wait(&f->cond, &f->lock);
		j = f->head;
		if (j) {
			f->head = j->next;
			if (!f->head)
				f->tail = NULL;
		}
		pthread_mutex_unlock(&f->lock);
		if (!j)
			return NULL;	/* stopped, and nothing left to do */

		d.id = j->id;
		d.freeze = j->freeze;
		d.error = cgroup_write_freeze(j->fd, j->freeze);
		/* a process in it now may have run before the freeze landed */
		if (j->freeze && d.error == 0 && cgroup_read_events(j->fd, &d.populated, &frozen) < 0)
			d.populated = -1;
		close(j->fd);
		free(j);
		/* one record a packet; a full socket waits for the loop; once the loop has
		 * closed its end (freezer_free) the reports go nowhere, without SIGPIPE */
		while (send(f->sock[1], &d, sizeof(d), MSG_NOSIGNAL) < 0 && errno == EINTR)
			;
	}
}

static int freezer_on_report(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct freezer *f = userdata;
	struct freezer_done d;

	for (;;) {
		ssize_t n = read(fd, &d, sizeof(d));

		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(d))
			return 0;
		f->done(&d, f->userdata);
	}
}

int freezer_new(sd_event *e, freezer_done_t done, void *userdata, struct freezer **ret)
{
	struct freezer *f;
	int r;

	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->sock[0] = f->sock[1] = -EBADF;
	f->done = done;
	f->userdata = userdata;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	/* the thread may block on a full socket, the loop never does */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, f->sock) < 0 ||
	    fcntl(f->sock[0], F_SETFL, O_NONBLOCK) < 0) {
		r = -errno;
		goto fail;
	}
	r = sd_event_add_io(e, &f->source, f->sock[0], EPOLLIN, freezer_on_report, f);
	if (r < 0)
		goto fail;
	(void)sd_event_source_set_description(f->source, "gate-freezer");
	*ret = f;
	return 0;
fail:
	freezer_free(f);
	return r;
}

int freezer_queue(struct freezer *f, int fd, uint64_t id, bool freeze)
{
	struct job *j;
	int r = 0;

	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (j->fd < 0) {
		free(j);
		return -errno;
	}
	j->id = id;
	j->freeze = freeze;
	pthread_mutex_lock(&f->lock);
	if (!f->started) {
		r = -pthread_create(&f->thread, NULL, freezer_thread, f);
		f->started = r == 0;
	}
	if (r == 0) {
		if (f->tail)
			f->tail->next = j;
		else
			f->head = j;
		f->tail = j;
		pthread_cond_signal(&f->cond);
	}
	pthread_mutex_unlock(&f->lock);
	if (r < 0) {
		close(j->fd);
		free(j);
	}
	return r;
}

struct freezer *freezer_free(struct freezer *f)
{
	if (!f)
		return NULL;
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
	/* no more reports: a thread blocked on a full socket goes on */
	f->source = sd_event_source_disable_unref(f->source);
	if (f->sock[0] >= 0)
		close(f->sock[0]);
	f->sock[0] = -EBADF;
	if (f->started)
		pthread_join(f->thread, NULL);
	if (f->sock[1] >= 0)
		close(f->sock[1]);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return NULL;
}
