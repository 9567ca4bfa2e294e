
story.transitionedstory"DESIGN*BUILD0€Ðß´«3