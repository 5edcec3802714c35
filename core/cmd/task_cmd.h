/* task_cmd.h -- CASE.TASK, CASE.TASKS, INCIDENT.LIST (the adapters; tasks are
 * domain/tasks.c's, incidents domain/incidents.c's). */
#ifndef REDRESS_TASK_CMD_H
#define REDRESS_TASK_CMD_H

#include "cmd/request.h"

void case_task_command(struct request *request);
void case_tasks_command(struct request *request);
void incident_list_command(struct request *request);

#endif
