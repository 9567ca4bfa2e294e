
caseplan-1DEVQA" 