/*
 * The store-independent half of job_store: argument checks and forwarding.
 * Every check the header promises is made here, once, so that each store
 * only sees arguments it can take as they are. Outputs are emptied here
 * before the store runs, so that every early return leaves them as the
 * header says.
 *
 * Bad arguments the header does not name a result for (a NULL type, an
 * unknown priority, a NULL output) are JOB_STORE_ERROR: nothing is changed.
 * An attempt status that cannot close an attempt (RUNNING, SUPERSEDED or out
 * of range) is a change the life cycle does not allow: JOB_STORE_CONFLICT,
 * like finishing with a status other than COMPLETED or FAILED.
 */
#include "job_store.h"

#include <stdlib.h>
#include <string.h>

void job_store_free(struct job_store *store)
{
	if (store == NULL)
		return;
	store->ops->destroy(store->state);
	free(store);
}

/* The statuses finish, retry and cancel may close an attempt with. */
static bool closes_an_attempt(enum attempt_status status)
{
	return (unsigned)status < ATTEMPT_STATUS_COUNT && status != ATTEMPT_RUNNING &&
	       status != ATTEMPT_SUPERSEDED;
}

static bool spec_is_valid(const struct job *spec)
{
	return spec->type != NULL && spec->payload != NULL &&
	       (unsigned)spec->priority < JOB_PRIORITY_COUNT;
}

enum job_store_result job_store_create(struct job_store *store, const struct job *specs,
				       size_t count, struct job *out, bool *existed)
{
	enum job_store_result rc;
	bool *scratch = NULL; /* existed[] for a caller that does not want it */

	if (out != NULL && count <= JOB_STORE_BATCH_MAX)
		memset(out, 0, count * sizeof(*out));
	if (existed != NULL && count <= JOB_STORE_BATCH_MAX)
		memset(existed, 0, count * sizeof(*existed));
	if (specs == NULL || out == NULL || count == 0 || count > JOB_STORE_BATCH_MAX)
		return JOB_STORE_ERROR;
	for (size_t i = 0; i < count; i++) {
		if (!spec_is_valid(&specs[i]))
			return JOB_STORE_ERROR;
	}
	if (existed == NULL) {
		scratch = calloc(count, sizeof(*scratch));
		if (scratch == NULL)
			return JOB_STORE_ERROR;
		existed = scratch;
	}
	rc = store->ops->create(store->state, specs, count, out, existed);
	free(scratch);
	return rc;
}

enum job_store_result job_store_create_running(struct job_store *store, const struct job *spec,
					       const char *node_id, struct job *out, int *attempt)
{
	enum job_store_result rc;

	memset(out, 0, sizeof(*out));
	*attempt = 0;
	if (spec == NULL || !spec_is_valid(spec) || spec->idempotency_key != NULL ||
	    node_id == NULL || node_id[0] == '\0')
		return JOB_STORE_ERROR;
	if (store->ops->create_running != NULL)
		return store->ops->create_running(store->state, spec, node_id, out, attempt);
	if ((rc = store->ops->create(store->state, spec, 1, out, &(bool){false})) != JOB_STORE_OK)
		return rc;
	rc = store->ops->mark_running(store->state, out->id, node_id, attempt);
	if (rc != JOB_STORE_OK)
		return JOB_STORE_CONFLICT; /* stored, not started: out is the job as created */
	/* As the combined operation hands it out: started, without reading it back. */
	out->status = JOB_RUNNING;
	out->attempt = *attempt;
	snprintf(out->node_id, sizeof(out->node_id), "%s", node_id);
	return JOB_STORE_OK;
}

enum job_store_result job_store_get(struct job_store *store, const char *id, struct job *out)
{
	memset(out, 0, sizeof(*out));
	if (id == NULL)
		return JOB_STORE_NOT_FOUND;
	return store->ops->get(store->state, id, out);
}

enum job_store_result job_store_list(struct job_store *store, const struct job_filter *filter,
				     struct job_list *out)
{
	out->items = NULL;
	out->count = 0;
	if (filter->limit == 0 || filter->limit > JOB_STORE_LIST_MAX)
		return JOB_STORE_ERROR;
	return store->ops->list(store->state, filter, out);
}

void job_list_clear(struct job_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		job_clear(&list->items[i]);
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

enum job_store_result job_store_list_page(struct job_store *store, enum job_status status,
					  uint64_t *cursor, size_t limit, struct job_list *out)
{
	out->items = NULL;
	out->count = 0;
	if (cursor == NULL || limit == 0 || limit > JOB_STORE_LIST_MAX ||
	    (unsigned)status >= JOB_STATUS_COUNT)
		return JOB_STORE_ERROR;
	return store->ops->list_page(store->state, status, cursor, limit, out);
}

enum job_store_result job_store_mark_running(struct job_store *store, const char *id,
					     const char *node_id, int *attempt)
{
	int ignored;

	if (attempt == NULL)
		attempt = &ignored;
	*attempt = 0;
	if (id == NULL)
		return JOB_STORE_NOT_FOUND;
	if (node_id == NULL)
		return JOB_STORE_ERROR;
	return store->ops->mark_running(store->state, id, node_id, attempt);
}

enum job_store_result job_store_finish(struct job_store *store, const char *id,
				       enum job_status status, const char *result,
				       const char *error, enum attempt_status attempt_status)
{
	if (status != JOB_COMPLETED && status != JOB_FAILED)
		return JOB_STORE_CONFLICT;
	if (!closes_an_attempt(attempt_status))
		return JOB_STORE_CONFLICT;
	if (id == NULL)
		return JOB_STORE_NOT_FOUND;
	return store->ops->finish(store->state, id, status, result, error, attempt_status);
}

/* The checks job_store_mark_running and job_store_finish make, for one change; OK if it may go to the store. */
static enum job_store_result check_change(struct job_change *change)
{
	change->attempt = 0;
	if ((unsigned)change->kind > JOB_CHANGE_FINISH)
		return JOB_STORE_ERROR;
	if (change->kind == JOB_CHANGE_FINISH &&
	    ((change->status != JOB_COMPLETED && change->status != JOB_FAILED) ||
	     !closes_an_attempt(change->attempt_status)))
		return JOB_STORE_CONFLICT;
	if (change->id == NULL)
		return JOB_STORE_NOT_FOUND;
	if (change->kind == JOB_CHANGE_START && change->node_id == NULL)
		return JOB_STORE_ERROR;
	return JOB_STORE_OK;
}

void job_store_apply_changes(struct job_store *store, struct job_change *changes, size_t count)
{
	struct job_change *valid; /* the changes that passed the checks, when some did not */
	size_t valid_count = 0;

	if (count == 0)
		return;
	for (size_t i = 0; i < count; i++)
		changes[i].outcome = check_change(&changes[i]);
	if (store->ops->apply_changes == NULL) {
		for (size_t i = 0; i < count; i++) {
			struct job_change *c = &changes[i];
			if (c->outcome != JOB_STORE_OK)
				continue;
			c->outcome = c->kind == JOB_CHANGE_START
					     ? store->ops->mark_running(store->state, c->id,
									c->node_id, &c->attempt)
					     : store->ops->finish(store->state, c->id, c->status,
								  c->result, c->error,
								  c->attempt_status);
			/* A store without transactions: the read right after is the same answer. */
			if (c->kind == JOB_CHANGE_FINISH && c->finished != NULL &&
			    c->outcome == JOB_STORE_OK &&
			    store->ops->get(store->state, c->id, c->finished) != JOB_STORE_OK)
				job_clear(c->finished);
		}
		return;
	}
	/* The store sees only the changes that passed the checks, in their order. */
	for (size_t i = 0; i < count; i++) {
		if (changes[i].outcome != JOB_STORE_OK)
			break;
		valid_count++;
	}
	if (valid_count == count) {
		store->ops->apply_changes(store->state, changes, count);
		return;
	}
	valid = malloc(count * sizeof(*valid));
	if (valid == NULL) {
		/* No memory to set the refused ones aside: the others one by one. */
		for (size_t i = 0; i < count; i++) {
			if (changes[i].outcome == JOB_STORE_OK)
				store->ops->apply_changes(store->state, &changes[i], 1);
		}
		return;
	}
	valid_count = 0;
	for (size_t i = 0; i < count; i++) {
		if (changes[i].outcome == JOB_STORE_OK)
			valid[valid_count++] = changes[i];
	}
	if (valid_count > 0)
		store->ops->apply_changes(store->state, valid, valid_count);
	valid_count = 0;
	for (size_t i = 0; i < count; i++) {
		if (changes[i].outcome == JOB_STORE_OK)
			changes[i] = valid[valid_count++];
	}
	free(valid);
}

enum job_store_result job_store_retry(struct job_store *store, const char *id,
				      enum attempt_status attempt_status, const char *error,
				      int64_t next_attempt_at)
{
	if (!closes_an_attempt(attempt_status))
		return JOB_STORE_CONFLICT;
	if (id == NULL)
		return JOB_STORE_NOT_FOUND;
	return store->ops->retry(store->state, id, attempt_status, error, next_attempt_at);
}

enum job_store_result job_store_requeue(struct job_store *store, const char *id)
{
	if (id == NULL)
		return JOB_STORE_NOT_FOUND;
	return store->ops->requeue(store->state, id);
}

enum job_store_result job_store_cancel(struct job_store *store, const char *id, const char *why,
				       enum job_status *was, struct job *out)
{
	enum job_status ignored_was;
	struct job ignored_job;
	enum job_store_result rc;

	memset(&ignored_job, 0, sizeof(ignored_job));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (id == NULL)
		return JOB_STORE_NOT_FOUND;
	/* The stores always fill both: simpler for them than checking for NULL. */
	rc = store->ops->cancel(store->state, id, why, was != NULL ? was : &ignored_was,
				out != NULL ? out : &ignored_job);
	if (out == NULL)
		job_clear(&ignored_job);
	return rc;
}

enum job_store_result job_store_note_late_result(struct job_store *store, const char *id,
						 int number, bool ok, const char *result,
						 const char *error)
{
	if (id == NULL || number < 1)
		return JOB_STORE_NOT_FOUND;
	return store->ops->note_late_result(store->state, id, number, ok, result, error);
}

enum job_store_result job_store_list_lost_attempts(struct job_store *store, const char *node_id,
						   struct lost_attempt **out, size_t *count)
{
	*out = NULL;
	*count = 0;
	if (node_id == NULL)
		return JOB_STORE_ERROR;
	return store->ops->list_lost_attempts(store->state, node_id, out, count);
}

enum job_store_result job_store_prune(struct job_store *store, int64_t finished_before,
				      size_t limit, size_t *deleted)
{
	size_t ignored;

	if (deleted == NULL)
		deleted = &ignored;
	*deleted = 0;
	if (limit == 0)
		return JOB_STORE_OK;
	return store->ops->prune(store->state, finished_before, limit, deleted);
}

void job_store_count_by_status(struct job_store *store, size_t counts[JOB_STATUS_COUNT])
{
	store->ops->count_by_status(store->state, counts);
}

enum job_store_result job_store_put_node(struct job_store *store, const struct node *node)
{
	if (node == NULL || node->id[0] == '\0' || node->name == NULL || node->address == NULL ||
	    (node->type_count > 0 && node->types == NULL))
		return JOB_STORE_ERROR;
	for (size_t i = 0; i < node->type_count; i++) {
		if (node->types[i] == NULL)
			return JOB_STORE_ERROR;
	}
	return store->ops->put_node(store->state, node);
}

enum job_store_result job_store_delete_node(struct job_store *store, const char *id)
{
	if (id == NULL)
		return JOB_STORE_NOT_FOUND;
	return store->ops->delete_node(store->state, id);
}

enum job_store_result job_store_load_nodes(struct job_store *store, struct node **out,
					   size_t *count)
{
	*out = NULL;
	*count = 0;
	return store->ops->load_nodes(store->state, out, count);
}
