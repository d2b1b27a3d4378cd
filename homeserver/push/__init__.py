"""Push notifications (spec: client-server-api "Push Notifications"): the push rules API,
pushers and the notifications list, and the pusher pool that sends notifications to push
gateways in the background. Evaluating each new event's push rules is part of persisting
it (homeserver/timeline/push.py)."""
