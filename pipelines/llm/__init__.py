"""The "think" stage: engines that stream a reply, plus persona and conversation memory."""
