
`
(
jiangan-08-05jiangan-07-c2"Grid 5
/-
	worker-liWu"jiangan-08-05*"
	workereasonr-wuацњт"†Сћтbatch-1

trueofficer-xu