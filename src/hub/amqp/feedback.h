/* Waking the service's feedback receivers (src/hub/amqp/feedback_link.c). */
#ifndef IOTHUB_HUB_AMQP_FEEDBACK_H
#define IOTHUB_HUB_AMQP_FEEDBACK_H

/* New feedback records were committed: every open feedback link looks at the queue again
 * (on its own thread, through its mailbox). Any thread; cheap when no link is open. */
void amqp_feedback_wake(void);

#endif
