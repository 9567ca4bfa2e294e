
T1Implement loginQA"@
secure and testedinput validation
traceparent00-abc (<*2case:storyBplan