
*
(
jiangan-07-05jiangan-07-c2"Grid 5
/-
	worker-wuWu"jiangan-07-05*+86 27 1111
#!
	cadre-sunSun"jiangan-07-05

	cadre-sun	worker-wu
"
	worker-wuацњт"†Сћтbatch-1

officer-xu