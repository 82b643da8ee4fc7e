
gate-1
guard-wangè‹Æò"
worker-ligrid_worker*jiangan-07-030Z 	š™™™™ÙB@compound gategate-2