	
agent-xdev