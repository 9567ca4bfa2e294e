
data