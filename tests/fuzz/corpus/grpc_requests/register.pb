
agent-xdev"http://10.0.0.1:9000*
kv