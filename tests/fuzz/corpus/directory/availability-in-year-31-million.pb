
%"#
	worker-li	€€š¦ê¯ã"	€š¦ê¯ãbatch-2

officer-xu