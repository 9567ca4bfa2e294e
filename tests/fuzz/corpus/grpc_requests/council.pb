
data*mock"
kv