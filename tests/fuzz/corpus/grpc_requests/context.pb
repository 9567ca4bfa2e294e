
T1story"dev*BUILD2 