/* The store-independent half of job_store: argument checks and forwarding. */
#include "job_store.h"

#include <stdlib.h>

void job_store_free(struct job_store *store)
{
	if (store == NULL)
		return;
	store->ops->destroy(store->state);
	free(store);
}

enum job_store_result job_store_create(struct job_store *store, const char *type,
				       const char *payload, struct job *out)
{
	return store->ops->create(store->state, type, payload, out);
}

enum job_store_result job_store_get(struct job_store *store, const char *id, struct job *out)
{
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

enum job_store_result job_store_mark_running(struct job_store *store, const char *id,
					     const char *node_id)
{
	return store->ops->mark_running(store->state, id, node_id);
}

enum job_store_result job_store_finish(struct job_store *store, const char *id,
				       enum job_status status, const char *result,
				       const char *error)
{
	if (!job_status_is_terminal(status))
		return JOB_STORE_CONFLICT;
	return store->ops->finish(store->state, id, status, result, error);
}

enum job_store_result job_store_requeue(struct job_store *store, const char *id)
{
	return store->ops->requeue(store->state, id);
}

void job_store_count_by_status(struct job_store *store, size_t counts[JOB_STATUS_COUNT])
{
	store->ops->count_by_status(store->state, counts);
}
