/* SPDX-License-Identifier: MIT */
/* probe: look at several Redis servers at once, so that dead ones cost one timeout in all, not one each. */
#include "probe.h"

#include <pthread.h>
#include <string.h>

#include "peer.h"

struct job {
	const struct resec_config *cfg;
	struct probe *p;
	pthread_t thread;
	int started;
};

static void look(const struct resec_config *cfg, struct probe *p)
{
	p->err[0] = '\0';
	p->ok = peer_probe(cfg, &p->hp, &p->info, NULL, p->err, sizeof(p->err)) == 0;
}

static void *job_main(void *arg)
{
	struct job *j = arg;
	look(j->cfg, j->p);
	return NULL;
}

void probe_many(const struct resec_config *cfg, struct probe *p, size_t n)
{
	struct job jobs[PROBE_MAX_THREADS];
	size_t done = 0;
	while (done < n) {
		size_t k = n - done;
		if (k > (size_t)PROBE_MAX_THREADS)
			k = PROBE_MAX_THREADS;
		memset(jobs, 0, sizeof(jobs));
		for (size_t i = 0; i < k; i++) {
			jobs[i].cfg = cfg;
			jobs[i].p = &p[done + i];
			jobs[i].started = pthread_create(&jobs[i].thread, NULL, job_main, &jobs[i]) == 0;
		}
		for (size_t i = 0; i < k; i++) {
			if (jobs[i].started)
				pthread_join(jobs[i].thread, NULL);
			else
				look(cfg, jobs[i].p);
		}
		done += k;
	}
}
