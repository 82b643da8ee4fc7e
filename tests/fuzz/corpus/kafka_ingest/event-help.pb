
h-1
resident-2€„Æò"

resident-2*jiangan-07-03b
r1insulin 